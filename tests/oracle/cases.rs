//! One test per oracle case folder (`tests/fixtures/oracle/<case>/`). Add a
//! case by adding its folder and one line here.

use super::check_case;

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check_case(stringify!($name));
            }
        )*
    };
}

cases!(
    basics,
    vault,
    facts_play,
    magic_dirs,
    archives,
    scripts,
    roles_handlers,
    blocks_rescue,
    loops_family,
    system_files,
    mount_fstab,
    async_jobs,
    include_loops,
    include_loops_free,
    facts_precedence,
    refresh_inventory,
    file_edits,
    users_groups,
    git_checkout,
    apt_packages,
    certificates,
    getent_facts,
    package_loops,
    user_loops,
);
