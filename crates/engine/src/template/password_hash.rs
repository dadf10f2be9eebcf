//! The `password_hash` filter (also `ansible.builtin.password_hash`): a
//! Unix `crypt(3)` hash of a string, as the `user` module's `password`
//! wants it. Arguments as Ansible takes them: `hashtype` (`sha512`, the
//! default, `sha256`, `md5`, or passlib's `sha512_crypt`-style names),
//! `salt`, `salt_size`, `rounds`. Without a salt the salt is random, so
//! each render differs, as under Ansible: give `salt` for a value that
//! stays the same from run to run.

use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error, ErrorKind};

use crate::crypt::{self, Scheme};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("password_hash", password_hash);
    env.add_filter("ansible.builtin.password_hash", password_hash);
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

fn password_hash(
    value: &Value,
    hashtype: Option<String>,
    salt: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let Some(password) = value.as_str() else {
        return Err(invalid(format!(
            "password_hash: the input must be a string, not {}",
            value.kind()
        )));
    };
    let hashtype = match kwargs.get::<Option<String>>("hashtype")? {
        Some(named) => named,
        None => hashtype.unwrap_or_else(|| "sha512".to_string()),
    };
    let salt = match kwargs.get::<Option<String>>("salt")? {
        Some(named) => Some(named),
        None => salt,
    };
    let salt_size: Option<usize> = kwargs.get("salt_size")?;
    let rounds: Option<u32> = kwargs.get("rounds")?;
    kwargs.assert_all_used()?;
    let scheme = Scheme::named(&hashtype).map_err(|e| invalid(format!("password_hash: {e}")))?;
    let salt = salt.unwrap_or_else(|| {
        crypt::random_salt(salt_size.unwrap_or_else(|| scheme.default_salt_len()))
    });
    crypt::hash(scheme, password, &salt, rounds).map_err(|e| invalid(format!("password_hash: {e}")))
}
