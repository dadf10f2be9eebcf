//! The `ipaddr` filter family (`ansible.utils.ipaddr`, `ipv4`, `ipv6`,
//! `ipwrap`) as Docker EE content uses it: in vars, in `copy: content:` and
//! in a template file, checked in the files it writes on a real node.

use super::{Lab, changed, results};

#[test]
fn ipaddr_filters_render_in_vars_copy_content_and_templates() {
    let lab = Lab::plain(1);
    lab.project.file(
        "ucp.conf.j2",
        "san={{ ip_addr | ansible.utils.ipaddr('address') }}\n\
         net={{ ip_addr | ipaddr('network') }}/{{ ip_addr | ipaddr('prefix') }}\n\
         url=https://{{ '2001:db8::7' | ipwrap }}:443\n",
    );
    lab.play(
        r#"
        - name: Write the addresses
          vars:
            ip_addr: 192.0.2.5/24
            address: "{{ ip_addr | ansible.netcommon.ipaddr('address') }}"
            candidates: ['10.0.0.1', 'not-an-ip', '2001:db8::1', '8.8.8.8']
          copy:
            dest: /srv/addresses
            content: |
              address={{ address }}
              netmask={{ ip_addr | ipaddr('netmask') }}
              broadcast={{ ip_addr | ipaddr('broadcast') }}
              fifth={{ '192.0.2.0/24' | ipaddr(5) }}
              v4={{ candidates | ipv4 | join(',') }}
              v6={{ candidates | ansible.utils.ipv6 | join(',') }}
              private={{ candidates | ipaddr('private') | join(',') }}
              public={{ candidates | ipaddr('public') | join(',') }}
              valid={{ 'not-an-ip' | ipaddr('bool') }}
        - name: Template the UCP config
          vars:
            ip_addr: 192.0.2.5/24
          template:
            src: ucp.conf.j2
            dest: /srv/ucp.conf
        "#,
    );
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 2, "{:?}", results(&first));
    assert_eq!(
        lab.sh("node1", "cat /srv/addresses"),
        "address=192.0.2.5\nnetmask=255.255.255.0\nbroadcast=192.0.2.255\n\
         fifth=192.0.2.5/24\nv4=10.0.0.1,8.8.8.8\nv6=2001:db8::1\nprivate=10.0.0.1\n\
         public=8.8.8.8\nvalid=False\n"
    );
    assert_eq!(
        lab.sh("node1", "cat /srv/ucp.conf"),
        "san=192.0.2.5\nnet=192.0.2.0/24\nurl=https://[2001:db8::7]:443\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}

#[test]
fn an_unknown_ipaddr_query_fails_with_the_queries_to_use() {
    let lab = Lab::plain(1);
    lab.play(
        r#"
        - debug:
            msg: "{{ '192.0.2.5/24' | ansible.utils.ipaddr('adress') }}"
        "#,
    );
    let run = lab.apply(&[]);
    assert_ne!(run.status, 0);
    let output = format!("{}{}", run.stdout, run.stderr);
    assert!(output.contains("unknown query `adress`"), "{output}");
}
