//! `vars_prompt`: play variables asked of the person at the terminal.
//!
//! Every play's questions are asked once, before any host is contacted and
//! after the playbook has been validated (a playbook with errors asks
//! nothing), in the order the plays come, as Ansible asks them. A variable
//! given with `-e` is not asked. A run without a terminal cannot ask, so it
//! stops before connecting, naming the variable and how to give it.
//!
//! Answers are play variables. A `private` answer (the default, typed with
//! echo off) is a secret: masked wherever it is shown. `confirm` asks twice
//! and asks again, up to three times, while the two answers differ.
//! `encrypt` (with `salt` or `salt_size`) stores the answer's crypt(3)
//! hash instead of the answer, as Ansible does; a value given with `-e` is
//! taken as it is, unhashed, as under Ansible.

use serde_json::{Map, Value};

use crate::crypt::{self, Scheme};
use crate::error::{Error, InputError};
use crate::params::to_bool;
use crate::yaml::Node;

/// How many times a confirmed question is asked before giving up.
const CONFIRM_ATTEMPTS: usize = 3;

/// One question of a play's `vars_prompt`.
#[derive(Debug, Clone)]
pub struct Prompt {
    /// The entry as written, for messages.
    pub node: Node,
    pub name: String,
    /// The text shown; the name when none is given.
    pub prompt: String,
    /// What an empty answer stands for.
    pub default: Option<String>,
    /// Typed with echo off, and kept as a secret.
    pub private: bool,
    /// Asked twice; both answers must agree.
    pub confirm: bool,
    /// `encrypt`: the answer becomes this crypt(3) hash of itself.
    pub encrypt: Option<Scheme>,
    /// `salt` for the hash; a random one of `salt_size` without it.
    pub salt: Option<String>,
    pub salt_size: Option<usize>,
}

/// An answer, ready to become a play variable.
#[derive(Debug, Clone)]
pub struct Answer {
    pub name: String,
    pub value: String,
    pub secret: bool,
}

/// Reads a play's `vars_prompt` list.
pub fn parse(node: &Node, errors: &mut Vec<InputError>) -> Vec<Prompt> {
    let Some(items) = node.as_seq() else {
        errors.push(
            InputError::at(
                node,
                format!("`vars_prompt` must be a list, not {}", node.kind()),
            )
            .with_label("expected a list of questions")
            .with_help("write `- name: <variable>` then `prompt: <question>` for each"),
        );
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| entry(item, errors))
        .collect()
}

fn entry(item: &Node, errors: &mut Vec<InputError>) -> Option<Prompt> {
    let Some(pairs) = item.as_map() else {
        errors.push(
            InputError::at(
                item,
                format!(
                    "a `vars_prompt` entry must be a mapping, not {}",
                    item.kind()
                ),
            )
            .with_label("expected `name:` and `prompt:`"),
        );
        return None;
    };
    let mut name = None;
    let mut prompt = Prompt {
        node: item.clone(),
        name: String::new(),
        prompt: String::new(),
        default: None,
        private: true,
        confirm: false,
        encrypt: None,
        salt: None,
        salt_size: None,
    };
    for (key, value) in pairs {
        match key.key() {
            "name" => name = value.as_str().map(str::to_string),
            "prompt" => prompt.prompt = value.scalar_text().unwrap_or_default(),
            "default" => prompt.default = value.scalar_text(),
            "private" | "confirm" => {
                let Some(flag) = to_bool(&value.to_json()) else {
                    errors.push(
                        InputError::at(value, format!("`{}` must be true or false", key.key()))
                            .with_label("not a boolean"),
                    );
                    continue;
                };
                if key.key() == "private" {
                    prompt.private = flag;
                } else {
                    prompt.confirm = flag;
                }
            }
            // Answers are never rendered as templates twice here, so
            // `unsafe` changes nothing that can be seen.
            "unsafe" => {}
            "encrypt" => match value.as_str().map(Scheme::named) {
                Some(Ok(scheme)) => prompt.encrypt = Some(scheme),
                Some(Err(e)) => errors.push(
                    InputError::at(value, e.to_string()).with_label("not a hash dtrplay makes"),
                ),
                None => errors.push(
                    InputError::at(value, "`encrypt` names a hash, such as sha512_crypt")
                        .with_label("expected a name"),
                ),
            },
            "salt" => match value.scalar_text() {
                Some(salt) if crypt::valid_salt(&salt) => prompt.salt = Some(salt),
                _ => errors.push(
                    InputError::at(value, crypt::CryptError::Salt.to_string())
                        .with_label("not a salt"),
                ),
            },
            "salt_size" => match value.to_json().as_u64() {
                Some(n @ 1..=16) => prompt.salt_size = Some(n as usize),
                _ => errors.push(
                    InputError::at(value, "`salt_size` must be a whole number from 1 to 16")
                        .with_label("not a salt size"),
                ),
            },
            other => errors.push(
                InputError::at(key, format!("unknown `vars_prompt` key `{other}`"))
                    .with_label("not a vars_prompt key")
                    .with_help(
                        crate::suggest::did_you_mean(
                            other,
                            ["name", "prompt", "default", "private", "confirm", "unsafe", "encrypt", "salt", "salt_size"],
                        )
                        .unwrap_or_else(|| "known keys: name, prompt, default, private, confirm, unsafe, encrypt, salt, salt_size".into()),
                    ),
            ),
        }
    }
    let Some(name) = name.filter(|n| is_identifier(n)) else {
        errors.push(
            InputError::at(item, "a `vars_prompt` entry needs `name:`, a variable name")
                .with_label("which variable does the answer go to?")
                .with_help("add `name: <variable>`"),
        );
        return None;
    };
    if prompt.prompt.is_empty() {
        prompt.prompt = name.clone();
    }
    prompt.name = name;
    Some(prompt)
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Asks the questions of one play that `-e` does not answer.
pub fn ask(prompts: &[Prompt], extra: &Map<String, Value>) -> Result<Vec<Answer>, Error> {
    let mut answers = Vec::new();
    for prompt in prompts.iter().filter(|p| !extra.contains_key(&p.name)) {
        if !crate::tty::available() {
            return Err(Error::Usage {
                message: format!(
                    "the play asks for `{}` (vars_prompt: {:?}), and this run has no terminal to ask on",
                    prompt.name, prompt.prompt
                ),
                help: Some(format!(
                    "give the answer on the command line with `-e {}=<value>` (or `-e @file.yml`), or run from a terminal",
                    prompt.name
                )),
            });
        }
        let mut value = answer(prompt)?;
        if let Some(scheme) = prompt.encrypt {
            let salt = prompt.salt.clone().unwrap_or_else(|| {
                crypt::random_salt(prompt.salt_size.unwrap_or(scheme.default_salt_len()))
            });
            value = crypt::hash(scheme, &value, &salt, None).map_err(|e| Error::Usage {
                message: format!("cannot hash the answer for `{}`: {e}", prompt.name),
                help: None,
            })?;
        }
        answers.push(Answer {
            name: prompt.name.clone(),
            value,
            secret: prompt.private,
        });
    }
    Ok(answers)
}

fn answer(prompt: &Prompt) -> Result<String, Error> {
    let text = match &prompt.default {
        Some(default) if !prompt.private => format!("{} [{default}]: ", prompt.prompt),
        _ => format!("{}: ", prompt.prompt),
    };
    let read = |text: &str| {
        let what = format!("answer for `{}`", prompt.name);
        let line = if prompt.private {
            crate::tty::ask_secret(text, &what)
        } else {
            crate::tty::ask(text, &what)
        };
        line.map_err(|e| Error::Usage {
            message: e.to_string(),
            help: Some(format!("give it with `-e {}=<value>` instead", prompt.name)),
        })
    };
    let with_default = |typed: String| match (&prompt.default, typed.is_empty()) {
        (Some(default), true) => default.clone(),
        _ => typed,
    };
    if !prompt.confirm {
        return Ok(with_default(read(&text)?));
    }
    for _ in 0..CONFIRM_ATTEMPTS {
        let first = read(&text)?;
        let second = read(&format!("confirm {text}"))?;
        if first == second {
            return Ok(with_default(first));
        }
        // Ansible's own words, on the terminal, where the person is.
        crate::tty::say("***** VALUES ENTERED DO NOT MATCH ****\n");
    }
    Err(Error::Usage {
        message: format!(
            "the two answers for `{}` differed {CONFIRM_ATTEMPTS} times",
            prompt.name
        ),
        help: Some(format!("give it with `-e {}=<value>` instead", prompt.name)),
    })
}

/// The value an answer has as a variable: a string, as Ansible gives it.
pub fn value(answer: &Answer) -> Value {
    Value::String(answer.value.clone())
}
