//! What ansible-core would run for a short module name that it redirects
//! to a collection, known without ansible-core, so that a playbook naming
//! `timezone` on a machine without it is told which module that is and
//! which collection to install.

/// The short names ansible-core 2.19 redirects to the collections that
/// manage Linux hosts (community.general, ansible.posix, community.crypto,
/// community.mysql, community.postgresql, community.docker,
/// community.rabbitmq), one `name collection.module` a line, sorted: so
/// that `timezone` without ansible-core is named as the module it is, not
/// an unknown word. Taken from ansible-core's `ansible_builtin_runtime.yml`.
const REDIRECTS: &str = include_str!("redirects.txt");

/// The collection module ansible-core would run for a short name.
pub fn redirect_of(name: &str) -> Option<&'static str> {
    REDIRECTS.lines().find_map(|line| {
        let (short, target) = line.split_once(' ')?;
        (short == name).then_some(target)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirected_short_names_name_their_collection_module() {
        assert_eq!(redirect_of("timezone"), Some("community.general.timezone"));
        assert_eq!(redirect_of("seboolean"), Some("ansible.posix.seboolean"));
        assert_eq!(redirect_of("timeout"), None);
        assert!(REDIRECTS.lines().all(|l| l.split(' ').count() == 2));
    }
}
