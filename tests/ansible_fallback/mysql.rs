//! `community.mysql.mysql_variables` against a real MariaDB (the shared
//! `builtins::mariadb` server, inside one copy-on-write node). `mysql_db`
//! and `mysql_user` are built-ins; this module stays with the fallback,
//! which runs community.mysql's own code over dtrplay's connection,
//! reaching the server through PyMySQL on the node's Python.

use super::apply;
use crate::builtins::mariadb::{MariaDb, SOCKET};
use crate::builtins::{Lab, changed, failed, results};

#[test]
fn mysql_variables_sets_a_server_variable_in_a_real_mariadb_inside_a_node() {
    let lab = Lab::copy_on_write(1);
    let db = MariaDb::start(&lab);
    let password = "Mar1a-s3cret";
    // An account that logs in with a password, so that the module's
    // `login_password` (a secret by community.mysql's argument spec) is used.
    db.query(&format!(
        "CREATE USER 'dba'@'localhost' IDENTIFIED BY '{password}'; \
         GRANT ALL ON *.* TO 'dba'@'localhost'"
    ))
    .expect("the account");
    lab.play(
        &r#"
        - name: more connections
          community.mysql.mysql_variables:
            login_unix_socket: SOCKET
            login_user: dba
            login_password: "{{ dba_password }}"
            variable: max_connections
            value: "230"
          register: set
        - name: record what the module returned
          shell: "printf '%s\n' '{{ set.msg }}' '{{ set.queries | default([]) | join(';') }}' > /var/tmp/variables-result"
          changed_when: false
        "#
        .replace("SOCKET", SOCKET),
    );
    let extra = format!("dba_password={password}");
    let value = || db.query("SELECT @@GLOBAL.max_connections");

    // community.mysql.mysql_variables has no check mode: it is skipped.
    let check = apply(&lab, &["--check", "-e", &extra]);
    check.success();
    assert_eq!(changed(&check, "node1"), 0, "{}", check.stdout);
    assert_eq!(value().expect("the server answers"), "151\n");

    let first = apply(&lab, &["-e", &extra]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1, "{}", first.stdout);
    assert_eq!(value().expect("the server answers"), "230\n");
    // What the module returned is data the play can use.
    let recorded = lab.sh("node1", "cat /var/tmp/variables-result");
    assert!(
        recorded.starts_with("Variable change succeeded prev_value=151\n")
            && recorded.contains("max_connections"),
        "{recorded}"
    );
    // The login password is a secret by the module's own argument spec.
    assert!(!first.stdout.contains(password), "{}", first.stdout);
    assert!(!first.stderr.contains(password), "{}", first.stderr);

    let again = apply(&lab, &["-e", &extra]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0, "{}", again.stdout);

    // The module's own error when it cannot reach the server.
    lab.play(
        &r#"
        - community.mysql.mysql_variables:
            login_unix_socket: SOCKET.gone
            variable: max_connections
            value: "100"
        "#
        .replace("SOCKET", SOCKET),
    );
    let refused = apply(&lab, &[]);
    refused.status(2);
    assert_eq!(failed(&refused, "node1"), 1);
    let why = results(&refused)
        .iter()
        .map(|r| r["msg"].as_str().unwrap_or_default().to_string())
        .collect::<String>();
    assert!(why.contains("Can't connect"), "{}", refused.stdout);
    assert_eq!(value().expect("the server answers"), "230\n");
}
