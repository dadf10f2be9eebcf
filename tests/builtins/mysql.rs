//! `mysql_db` and `mysql_user` against a real MariaDB (`mariadb.rs`)
//! inside a copy-on-write node, through the node's own `mariadb` client;
//! what they did is proven with the real client, logging in as the user.

use super::mariadb::{MariaDb, SOCKET};
use super::{Lab, changed, diffs, failed, results};

/// The user's password: spaces, `#` and quotes reach the server unchanged.
const PASSWORD: &str = "Fo0 p#ss\"w\\rd";
const NEW_PASSWORD: &str = "N3w-pass";

fn password_vars(password: &str) -> String {
    serde_json::json!({ "db_password": password }).to_string()
}

/// The messages of a run's results, joined.
fn messages(run: &crate::harness::Run) -> String {
    results(run)
        .iter()
        .map(|r| r["msg"].as_str().unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn app_play(lab: &Lab, privileges: &str) {
    lab.play(
        &r#"
        - name: the application's database
          mysql_db:
            login_unix_socket: SOCKET
            name: foodb
            encoding: utf8mb4
            collation: utf8mb4_unicode_ci
          register: db
        - name: the application's user
          community.mysql.mysql_user:
            login_unix_socket: SOCKET
            name: foouser
            host: localhost
            password: "{{ db_password }}"
            priv: "PRIVS"
          register: user
        - name: record what they returned
          shell: "printf '%s\n' '{{ db.db_list | join(',') }}' '{{ user.msg }}' '{{ user.password_changed }}' > /var/tmp/mysql-result"
          changed_when: false
        "#
        .replace("SOCKET", SOCKET)
        .replace("PRIVS", privileges),
    );
}

#[test]
fn mysql_db_and_mysql_user_make_a_database_and_its_user_in_a_real_mariadb() {
    let lab = Lab::copy_on_write(1);
    let db = MariaDb::start(&lab);
    app_play(&lab, "foodb.*:ALL/*.*:PROCESS");
    let vars = password_vars(PASSWORD);
    let user_exists = || {
        db.query("SELECT COUNT(*) FROM mysql.user WHERE user = 'foouser'")
            .expect("the server answers")
    };
    let charset = || {
        db.query("SELECT default_character_set_name FROM information_schema.schemata WHERE schema_name = 'foodb'")
            .expect("the server answers")
    };

    // Check mode reports both changes with their diffs and changes nothing.
    let check = lab.apply(&["--check", "--diff", "-e", &vars]);
    check.success();
    assert_eq!(changed(&check, "node1"), 2, "{}", check.stdout);
    let shown = diffs(&check);
    assert!(
        shown.contains("+database: foodb") && shown.contains("+user: foouser@localhost"),
        "{shown}"
    );
    assert!(shown.contains("+  foodb.*: ALL"), "{shown}");
    assert_eq!(user_exists(), "0\n");
    assert_eq!(charset(), "");

    // The real run, with the scripts shown (-vv): the password is in none
    // of it, nor is its hash.
    let first = lab.apply(&["-vv", "-e", &vars]);
    first.success();
    assert_eq!(changed(&first, "node1"), 2, "{}", first.stdout);
    assert_eq!(user_exists(), "1\n");
    assert_eq!(charset(), "utf8mb4\n");
    let hash = db
        .query("SELECT authentication_string FROM mysql.user WHERE user = 'foouser'")
        .expect("the hash");
    for secret in [PASSWORD, hash.trim()] {
        assert!(!first.stdout.contains(secret), "{}", first.stdout);
        assert!(!first.stderr.contains(secret), "{}", first.stderr);
    }
    assert_eq!(
        lab.sh("node1", "cat /var/tmp/mysql-result"),
        "foodb\nUser added\nTrue\n"
    );
    // The user logs in with its password and has the privileges asked for.
    assert_eq!(
        db.as_user("foouser", Some(PASSWORD), "SELECT CURRENT_USER()")
            .expect("foouser logs in with its password"),
        "foouser@localhost\n"
    );
    assert!(db.as_user("foouser", Some("wrong"), "SELECT 1").is_err());
    db.as_user(
        "foouser",
        Some(PASSWORD),
        "CREATE TABLE foodb.t (i INT); INSERT INTO foodb.t VALUES (1)",
    )
    .expect("ALL on foodb");
    assert!(
        db.as_user("foouser", Some(PASSWORD), "CREATE DATABASE other")
            .is_err()
    );
    let grants = db
        .query("SHOW GRANTS FOR 'foouser'@'localhost'")
        .expect("the grants");
    assert!(grants.contains("GRANT PROCESS ON *.*"), "{grants}");

    // A second run changes nothing, also with -vv.
    let again = lab.apply(&["-vv", "-e", &vars]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0, "{}", again.stdout);
    assert!(!again.stdout.contains(PASSWORD) && !again.stderr.contains(PASSWORD));
    assert_eq!(
        lab.sh("node1", "cat /var/tmp/mysql-result"),
        "foodb\nUser unchanged\nFalse\n"
    );

    // A new password is a change; the old one stops working.
    let vars = password_vars(NEW_PASSWORD);
    let check = lab.apply(&["--check", "-e", &vars]);
    assert_eq!(changed(&check, "node1"), 1, "{}", check.stdout);
    assert!(db.as_user("foouser", Some(PASSWORD), "SELECT 1").is_ok());
    let changed_password = lab.apply(&["-e", &vars]);
    changed_password.success();
    assert_eq!(changed(&changed_password, "node1"), 1);
    assert_eq!(
        lab.sh("node1", "cat /var/tmp/mysql-result"),
        "foodb\nPassword updated\nTrue\n"
    );
    assert!(db.as_user("foouser", Some(PASSWORD), "SELECT 1").is_err());
    assert!(
        db.as_user("foouser", Some(NEW_PASSWORD), "SELECT 1")
            .is_ok()
    );
    assert_eq!(changed(&lab.apply(&["-e", &vars]), "node1"), 0);

    // Fewer privileges: the others are revoked.
    app_play(&lab, "foodb.*:SELECT");
    let fewer = lab.apply(&["--diff", "-e", &vars]);
    fewer.success();
    assert_eq!(changed(&fewer, "node1"), 1, "{}", fewer.stdout);
    assert!(
        diffs(&fewer).contains("-  foodb.*: ALL"),
        "{}",
        diffs(&fewer)
    );
    assert_eq!(
        db.as_user("foouser", Some(NEW_PASSWORD), "SELECT i FROM foodb.t")
            .expect("SELECT on foodb"),
        "1\n"
    );
    assert!(
        db.as_user(
            "foouser",
            Some(NEW_PASSWORD),
            "INSERT INTO foodb.t VALUES (2)"
        )
        .is_err()
    );
    let grants = db
        .query("SHOW GRANTS FOR 'foouser'@'localhost'")
        .expect("the grants");
    assert!(!grants.contains("PROCESS"), "{grants}");
    assert_eq!(changed(&lab.apply(&["-e", &vars]), "node1"), 0);

    // Absent removes both; check mode first changes nothing.
    lab.play(
        &r#"
        - mysql_user: {login_unix_socket: SOCKET, name: foouser, state: absent}
        - community.mysql.mysql_db: {login_unix_socket: SOCKET, name: [foodb, nodb], state: absent}
        "#
        .replace("SOCKET", SOCKET),
    );
    let check = lab.apply(&["--check"]);
    assert_eq!(changed(&check, "node1"), 2, "{}", check.stdout);
    assert_eq!(user_exists(), "1\n");
    let removed = lab.apply(&[]);
    removed.success();
    assert_eq!(changed(&removed, "node1"), 2, "{}", removed.stdout);
    assert_eq!(user_exists(), "0\n");
    assert_eq!(charset(), "");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}

#[test]
fn mysql_db_dumps_and_imports_and_logs_in_with_a_password() {
    let lab = Lab::copy_on_write(1);
    let db = MariaDb::start(&lab);
    db.query("CREATE DATABASE shop; CREATE TABLE shop.items (name VARCHAR(20)); INSERT INTO shop.items VALUES ('apple')")
        .expect("the database");
    // An administrator that logs in with a password the option file must
    // quote: a quote, `#` and spaces.
    let admin = "Adm'n #1 pw";
    lab.play(
        &r#"
        - name: the administrator
          mysql_user:
            login_unix_socket: SOCKET
            name: admin
            password: "{{ admin_password }}"
            priv: "*.*:ALL,GRANT"
        "#
        .replace("SOCKET", SOCKET),
    );
    let vars = serde_json::json!({ "admin_password": admin }).to_string();
    let made = lab.apply(&["-e", &vars]);
    made.success();
    assert_eq!(changed(&made, "node1"), 1, "{}", made.stdout);
    assert_eq!(changed(&lab.apply(&["-e", &vars]), "node1"), 0);
    lab.play(
        &r#"
        - name: a dump, compressed
          mysql_db:
            login_user: admin
            login_password: "{{ admin_password }}"
            login_unix_socket: SOCKET
            name: shop
            state: dump
            target: /var/tmp/shop.sql.gz
          register: dumped
        - name: record what it ran
          shell: "printf '%s\n' '{{ dumped.executed_commands | default([]) | join(';') }}' > /var/tmp/dump-result"
          changed_when: false
        - name: the copy of the shop
          mysql_db:
            login_user: admin
            login_password: "{{ admin_password }}"
            login_unix_socket: SOCKET
            name: shop_copy
            state: import
            target: /var/tmp/shop.sql.gz
        "#
        .replace("SOCKET", SOCKET),
    );
    let check = lab.apply(&["--check", "-e", &vars]);
    check.success();
    assert_eq!(changed(&check, "node1"), 2, "{}", check.stdout);
    // An import in check mode does not need its file, and nothing is made.
    assert_eq!(
        lab.sh("node1", "ls /var/tmp/shop.sql.gz 2>/dev/null || echo none"),
        "none\n"
    );

    let run = lab.apply(&["-vv", "-e", &vars]);
    run.success();
    assert_eq!(changed(&run, "node1"), 2, "{}", run.stdout);
    assert!(!run.stdout.contains(admin) && !run.stderr.contains(admin));
    let dump = lab.sh("node1", "gzip -dc /var/tmp/shop.sql.gz");
    assert!(
        dump.contains("CREATE TABLE `items`") && dump.contains("('apple')"),
        "{dump}"
    );
    let recorded = lab.sh("node1", "cat /var/tmp/dump-result");
    assert!(
        recorded.contains("shop | gzip > /var/tmp/shop.sql.gz") && !recorded.contains(admin),
        "{recorded}"
    );
    assert_eq!(
        db.query("SELECT name FROM shop_copy.items")
            .expect("the copy"),
        "apple\n"
    );
    // Dump and import always run, as in community.mysql.
    let again = lab.apply(&["-e", &vars]);
    assert_eq!(changed(&again, "node1"), 2, "{}", again.stdout);

    // A wrong password: the connection is refused, naming the cause.
    lab.play(
        &r#"
        - mysql_db:
            login_user: admin
            login_password: wrong
            login_unix_socket: SOCKET
            name: never
        "#
        .replace("SOCKET", SOCKET),
    );
    let refused = lab.apply(&[]);
    refused.status(2);
    assert_eq!(failed(&refused, "node1"), 1);
    let why = messages(&refused);
    assert!(
        why.contains("unable to connect to database") && why.contains("Access denied"),
        "{why}"
    );
    assert_eq!(
        db.query("SHOW DATABASES LIKE 'never'")
            .expect("the server answers"),
        ""
    );
    // check_implicit_admin: root without a password (here through the
    // socket's peer credentials) is tried first, and works.
    lab.play(
        &r#"
        - mysql_db:
            login_user: admin
            login_password: wrong
            login_unix_socket: SOCKET
            check_implicit_admin: true
            name: implicit
        "#
        .replace("SOCKET", SOCKET),
    );
    let implicit = lab.apply(&[]);
    implicit.success();
    assert_eq!(changed(&implicit, "node1"), 1, "{}", implicit.stdout);
    assert_eq!(
        db.query("SHOW DATABASES LIKE 'implicit'")
            .expect("the server answers"),
        "implicit\n"
    );
    // config_file is read: its user and password are the login (with a
    // wrong password first, so that root's own socket login cannot be
    // what succeeds).
    let cnf = |password: &str| {
        lab.sh(
            "node1",
            &format!(
                "printf '%s\\n' '[client]' 'user=admin' 'password=\"{password}\"' > /var/tmp/admin.cnf"
            ),
        );
    };
    lab.play(
        &r#"
        - mysql_db:
            config_file: /var/tmp/admin.cnf
            login_unix_socket: SOCKET
            name: fromcnf
        "#
        .replace("SOCKET", SOCKET),
    );
    cnf("wrong");
    let denied = lab.apply(&[]);
    denied.status(2);
    let why = messages(&denied);
    assert!(
        why.contains("/var/tmp/admin.cnf has the credentials")
            && why.contains("Access denied for user 'admin'"),
        "{why}"
    );
    cnf("Adm'\\''n #1 pw");
    let from_file = lab.apply(&[]);
    from_file.success();
    assert_eq!(changed(&from_file, "node1"), 1, "{}", from_file.stdout);
    assert_eq!(
        db.query("SHOW DATABASES LIKE 'fromcnf'")
            .expect("the server answers"),
        "fromcnf\n"
    );

    lab.play(
        &r#"
        - mysql_db:
            login_unix_socket: SOCKET
            name: nothere
            state: dump
            target: /var/tmp/nothere.sql
        "#
        .replace("SOCKET", SOCKET),
    );
    let missing = lab.apply(&[]);
    missing.status(2);
    assert!(
        messages(&missing).contains("Cannot dump database(s) 'nothere' - not found"),
        "{}",
        missing.stdout
    );
}

#[test]
fn mysql_user_host_all_append_subtract_column_privileges_and_hashes() {
    let lab = Lab::copy_on_write(1);
    let db = MariaDb::start(&lab);
    db.query(
        "CREATE USER 'multi'@'localhost' IDENTIFIED BY 'pw1'; \
         CREATE USER 'multi'@'127.0.0.1' IDENTIFIED BY 'pw1'; \
         CREATE DATABASE a; CREATE TABLE a.t (x INT, y INT); \
         GRANT INSERT ON a.* TO 'multi'@'localhost'",
    )
    .expect("the accounts");
    let grants = |host: &str| {
        db.query(&format!("SHOW GRANTS FOR 'multi'@'{host}'"))
            .expect("the grants")
    };
    let play = |task: &str| lab.play(&task.replace("SOCKET", SOCKET));
    let twice = |what: &str| {
        let first = lab.apply(&[]);
        first.success();
        assert_eq!(changed(&first, "node1"), 1, "{what}: {}", first.stdout);
        let again = lab.apply(&[]);
        again.success();
        assert_eq!(changed(&again, "node1"), 0, "{what}: {}", again.stdout);
    };

    // Every host of the name gets SELECT on a, keeping what it had; the
    // password is only for new accounts.
    play(
        r#"
        - mysql_user:
            login_unix_socket: SOCKET
            name: multi
            host_all: true
            priv: "a.*:SELECT"
            append_privs: true
            password: other
            update_password: on_create
        "#,
    );
    twice("append on every host");
    assert!(
        grants("localhost").contains("GRANT SELECT, INSERT ON `a`.*"),
        "{}",
        grants("localhost")
    );
    assert!(
        grants("127.0.0.1").contains("GRANT SELECT ON `a`.*"),
        "{}",
        grants("127.0.0.1")
    );
    assert!(db.as_user("multi", Some("pw1"), "SELECT 1").is_ok());

    // subtract_privs takes only the named privilege away.
    play(
        r#"
        - mysql_user:
            login_unix_socket: SOCKET
            name: multi
            host_all: true
            priv: "a.*:SELECT"
            subtract_privs: true
        "#,
    );
    twice("subtract on every host");
    assert!(
        grants("localhost").contains("GRANT INSERT ON `a`.*"),
        "{}",
        grants("localhost")
    );
    assert!(
        !grants("127.0.0.1").contains("`a`"),
        "{}",
        grants("127.0.0.1")
    );

    // A new host of an existing name takes that name's password
    // (on_new_username), not the task's.
    play(
        r#"
        - mysql_user:
            login_unix_socket: SOCKET
            name: multi
            host: "10.0.0.%"
            password: ignored
            update_password: on_new_username
        "#,
    );
    twice("a new host of the name");
    assert_eq!(
        db.query(
            "SELECT COUNT(DISTINCT authentication_string) FROM mysql.user WHERE user = 'multi'"
        )
        .expect("the hashes"),
        "1\n"
    );

    // Column privileges, and a password given as its hash.
    play(
        r#"
        - mysql_user:
            login_unix_socket: SOCKET
            name: cols
            password: "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
            encrypted: true
            priv: "a.t:SELECT (x),INSERT"
        "#,
    );
    twice("column privileges");
    assert_eq!(
        db.as_user("cols", Some("password"), "SELECT x FROM a.t")
            .expect("cols reads x with the password the hash is of"),
        ""
    );
    assert!(
        db.as_user("cols", Some("password"), "SELECT y FROM a.t")
            .is_err()
    );

    // host_all cannot make an account, and a bad priv names what is wrong;
    // neither changes anything.
    play(
        r#"
        - mysql_user: {login_unix_socket: SOCKET, name: nobody, host_all: true, password: x}
        "#,
    );
    let refused = lab.apply(&[]);
    refused.status(2);
    assert!(
        messages(&refused).contains("host_all parameter cannot be used when adding a user"),
        "{}",
        refused.stdout
    );
    play(
        r#"
        - mysql_user: {login_unix_socket: SOCKET, name: cols, priv: "a.*:SELECT; DROP DATABASE a"}
        "#,
    );
    let refused = lab.apply(&[]);
    refused.status(2);
    assert!(
        messages(&refused).contains("invalid privileges string"),
        "{}",
        refused.stdout
    );
    assert_eq!(
        db.query("SHOW DATABASES LIKE 'a'")
            .expect("the server answers"),
        "a\n"
    );
}
