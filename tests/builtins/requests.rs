//! `uri` against the real HTTPS server of `web.rs`, sent by the nodes' own
//! curl with the server's certificate verified against `ca_path`.

use super::web::Web;
use super::{Lab, changed, failed, results};

#[test]
fn uri_sends_json_forms_and_credentials_and_checks_statuses() {
    let web = Web::start();
    web.publish("hello.txt", b"hello\n");
    let lab = Lab::plain(1);
    let (base, ca) = (&web.base, web.ca.display());
    lab.play(&format!(
        r#"
        - uri: url={base}/echo method=POST body=x ca_path={ca}
        "#
    ));
    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 0);
    assert_eq!(web.echoes(), 0, "check mode sends no request");

    lab.play(&format!(
        r#"
        - uri:
            url: {base}/echo
            method: POST
            body_format: json
            body: {{name: dtr, replicas: 3}}
            headers:
              X-Token: t0k3n
            ca_path: {ca}
            return_content: true
          register: echo
        - assert:
            that:
              - echo.status == 200
              - echo is not changed
              - echo.json.method == 'POST'
              - echo.json.json.name == 'dtr'
              - echo.json.json.replicas == 3
              - echo.json.content_type == 'application/json'
              - echo.json.x_token == 't0k3n'
              - echo.content_type == 'application/json'
              - echo.content is string
              - echo.msg is match('OK \(\d+ bytes\)')
        - uri:
            url: {base}/echo
            method: PUT
            body_format: form-urlencoded
            body: {{a: 1, b: x y&z}}
            ca_path: {ca}
          register: form
        - assert:
            that:
              - form.json.body == 'a=1&b=x+y%26z'
              - form.content is not defined
        - uri: url={base}/auth url_username=dtr url_password=s3cret force_basic_auth=true ca_path={ca}
          register: auth
        - uri: url={base}/auth ca_path={ca} status_code=401,403
          register: anonymous
        - uri: url={base}/redirect ca_path={ca} return_content=true
          register: moved
        - assert:
            that:
              - auth.json.user == 'dtr'
              - anonymous.status == 401
              - moved.redirected
              - moved.url == '{base}/files/hello.txt'
              - moved.content == 'hello\n'
        - uri: url={base}/status/503 ca_path={ca}
          register: down
          ignore_errors: true
        - name: one status as a number, not a list
          uri:
            url: {base}/status/503
            ca_path: {ca}
            status_code: 503
          register: expected_down
        - name: the system trust store does not know the lab's CA
          uri: url={base}/echo
          register: untrusted
          ignore_errors: true
        - assert:
            that:
              - down is failed and down.status == 503
              - expected_down is not failed and expected_down.status == 503
              - down.content == 'status 503\n'
              - untrusted is failed and untrusted.status == -1
        "#
    ));
    let run = lab.apply(&[]);
    run.success();
    assert_eq!(changed(&run, "node1"), 0);
    assert_eq!(failed(&run, "node1"), 0);
    assert_eq!(
        web.echoes(),
        2,
        "the untrusted request never reached the server"
    );
    let msgs: Vec<String> = results(&run)
        .iter()
        .map(|r| r["msg"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        msgs.iter()
            .any(|m| m == "Status code was 503 and not [200]: HTTP Error 503"),
        "{msgs:?}"
    );
    assert!(
        !run.stdout_filtered().contains("s3cret"),
        "the password is never shown"
    );
}
