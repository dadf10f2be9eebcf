//! Variables as templates see them: layered, shared between hosts, and
//! templated lazily the way Ansible does it. This is dtrplay's one variable
//! model (ARCHITECTURE.md, "The variable model").
//!
//! A run has one large body of variables that every host shares and a small
//! body per host. Converting the shared part into template values for every
//! render would make each render cost O(hosts), so `Vars` is a chain of
//! immutable layers behind `Arc`s: build the shared layer once, then give
//! each host a cheap `child()` layer on top of it. Lookups walk the chain
//! from the innermost layer outwards, so a host value shadows a shared one,
//! and nothing is copied.
//!
//! Every value carries its origin, given by the function that inserts it;
//! nothing guesses it from the text:
//! - [`Vars::insert_template`]: written by the user (playbooks, inventories,
//!   vars files, `-e`). Strings holding `{{ }}` or `{% %}` are kept as
//!   written and rendered each time a template looks them up, in the scope
//!   of that lookup (Ansible's lazy templating).
//! - [`Vars::insert_data`]: host data (registered results, `set_fact`
//!   values, facts, loop items, custom task results). Never rendered,
//!   however it is used: this is Ansible's "unsafe".
//! - [`Vars::insert_secret`]: a secret by origin (vault-decrypted values,
//!   become passwords, what a `no_log` task registered). Never rendered,
//!   and reading it taints the render.
//! - [`Vars::insert_magic`]: values dtrplay computes itself
//!   (`inventory_hostname`, `playbook_dir`): never rendered, trusted.
//!
//! A render that reads a secret (a secret-named variable or a secret-origin
//! value, directly or through other variables) yields a secret: the strings
//! it produces are recorded in the [`Taint`] of the `Vars` it rendered with,
//! and `Secrets` built with that taint mask them wherever they are shown.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use indexmap::IndexMap;
use minijinja::value::{Enumerator, Object, ObjectExt, ObjectRepr, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};

use super::convert::{from_json, to_json};
use crate::secret::{SecretSet, Secrets, Taint, is_secret_name};
use crate::yaml::is_template;

/// How deep lazily templated variables may refer to each other before the
/// chain is treated as a loop (`a: "{{ b }}"`, `b: "{{ a }}"`).
const MAX_LAZY_DEPTH: usize = 24;

/// The variables visible to one render: a chain of layers, innermost first.
///
/// Cloning is cheap (one `Arc`), and so is `child()`. Inserting into a layer
/// that is shared with clones copies that layer's own entries first, never
/// its parents, so keep shared layers finished before handing them out.
#[derive(Clone, Default)]
pub struct Vars {
    layer: Arc<Layer>,
    /// Where renders with these variables record the secrets they derive.
    taint: Option<Arc<Taint>>,
}

#[derive(Clone, Default)]
struct Layer {
    entries: IndexMap<String, Entry>,
    parent: Option<Vars>,
    /// The secret values found in this layer's own entries, computed on the
    /// first masking request and reset by every insert. Caching per layer is
    /// what keeps `Vars::secrets` cheap for 1000 hosts sharing a base.
    secrets: OnceLock<Arc<SecretSet>>,
}

/// One variable's value, by origin.
#[derive(Clone)]
pub(crate) enum Entry {
    /// Written by the user without template syntax, or computed by
    /// dtrplay: converted to a template value once.
    Plain(Value),
    /// Written by the user, holding template strings: rendered at each
    /// lookup.
    Template(Arc<serde_json::Value>),
    /// Host data: never rendered.
    Data(Value),
    /// A secret by origin: never rendered, taints the renders that read it.
    Secret(Value),
    /// A large run-wide value converted once (`groups`); left out of
    /// `to_json`, which tasks get per invocation.
    Shared(Value),
    /// `hostvars`: a lazy view over every host's variables.
    HostVars(Arc<HostTable>),
}

impl Vars {
    pub fn new() -> Vars {
        Vars::default()
    }

    /// User-written variables (an inventory's, `-e`'s): every entry is
    /// inserted with [`Vars::insert_template`].
    pub fn templates(map: &serde_json::Map<String, serde_json::Value>) -> Vars {
        let mut layer = Layer::default();
        layer.entries.reserve(map.len());
        for (name, value) in map {
            layer
                .entries
                .insert(name.clone(), convert_cached(value, true));
        }
        Vars {
            layer: Arc::new(layer),
            taint: None,
        }
    }

    /// A new, empty layer on top of `self`: what a host, a block or a loop
    /// iteration adds goes there, and `self` stays shared and untouched.
    pub fn child(&self) -> Vars {
        Vars {
            layer: Arc::new(Layer {
                parent: Some(self.clone()),
                ..Layer::default()
            }),
            taint: self.taint.clone(),
        }
    }

    /// This layer's own entries on top of another parent: how a host's
    /// facts move from one play's variables to the next one's.
    pub fn rebase(&self, parent: &Vars) -> Vars {
        let mut moved = parent.child();
        Arc::make_mut(&mut moved.layer).entries = self.layer.entries.clone();
        moved
    }

    /// The layer below this one, if any: how a host's entry in the table
    /// reaches its play and facts layers to replace one of them.
    pub fn parent(&self) -> Option<&Vars> {
        self.layer.parent.as_ref()
    }

    /// Records the secrets that renders with these variables (and their
    /// children) derive in `taint`.
    pub fn track(&mut self, taint: Arc<Taint>) {
        self.taint = Some(taint);
    }

    /// Where renders with these variables record derived secrets, if anywhere.
    pub fn taint(&self) -> Option<&Arc<Taint>> {
        self.taint.as_ref()
    }

    /// Defines a variable the user wrote (YAML or JSON data). Strings
    /// holding `{{ }}` or `{% %}`, at any depth, are rendered lazily when a
    /// template uses them.
    pub fn insert_template(&mut self, name: impl Into<String>, value: serde_json::Value) {
        let entry = if json_has_template(&value) {
            Entry::Template(Arc::new(value))
        } else {
            Entry::Plain(from_json(&value))
        };
        self.put(name.into(), entry);
    }

    /// Defines a variable from host data: registered task results, facts,
    /// `set_fact` values, loop items. Its strings are never templated: text
    /// that came from a machine must not be able to run template code.
    pub fn insert_data(&mut self, name: impl Into<String>, value: serde_json::Value) {
        self.put(name.into(), Entry::Data(from_json(&value)));
    }

    /// Defines a secret by origin: a vault-decrypted value, a become
    /// password, what a `no_log` task registered. Never templated; every
    /// string in it is masked wherever shown, and every render that reads
    /// it yields a secret.
    pub fn insert_secret(&mut self, name: impl Into<String>, value: serde_json::Value) {
        self.put(name.into(), Entry::Secret(from_json(&value)));
    }

    /// Defines a variable dtrplay computes itself (magic variables such as
    /// `inventory_hostname`): never templated, and not host data.
    pub fn insert_magic(&mut self, name: impl Into<String>, value: serde_json::Value) {
        self.put(name.into(), Entry::Plain(from_json(&value)));
    }

    /// Defines a variable from a value converted once and shared by every
    /// render (`groups`): inserting it costs one reference count.
    pub fn insert_shared(&mut self, name: impl Into<String>, value: &Shared) {
        self.put(name.into(), Entry::Shared(value.0.clone()));
    }

    /// Defines `hostvars`, the lazy view over every host's variables.
    pub fn insert_hostvars(&mut self, table: &Arc<HostTable>) {
        self.put("hostvars".to_string(), Entry::HostVars(table.clone()));
    }

    fn put(&mut self, name: String, entry: Entry) {
        let layer = Arc::make_mut(&mut self.layer);
        layer.secrets = OnceLock::new();
        layer.entries.insert(name, entry);
    }

    /// Forgets a variable of this layer (a parent's stays visible).
    pub fn remove_own(&mut self, name: &str) {
        if self.layer.entries.contains_key(name) {
            let layer = Arc::make_mut(&mut self.layer);
            layer.secrets = OnceLock::new();
            layer.entries.shift_remove(name);
        }
    }

    /// Whether a variable is defined in any layer.
    pub fn contains(&self, name: &str) -> bool {
        self.entry(name).is_some()
    }

    /// Whether a variable is defined in this layer itself (not a parent).
    pub fn contains_own(&self, name: &str) -> bool {
        self.layer.entries.contains_key(name)
    }

    /// A variable's value as data. Lazily templated values come back as
    /// written (unrendered); use `Templates::eval_str(name)` for the
    /// rendered value. `hostvars` has no data form here.
    pub fn get(&self, name: &str) -> Option<serde_json::Value> {
        match self.entry(name)? {
            Entry::Plain(value) | Entry::Data(value) | Entry::Secret(value) => Some(to_json(value)),
            Entry::Shared(value) => Some(to_json(value)),
            Entry::Template(json) => Some(json.as_ref().clone()),
            Entry::HostVars(_) => None,
        }
    }

    /// Every visible variable name, innermost layer first, without
    /// duplicates; for "did you mean" suggestions.
    pub fn names(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        let mut names = Vec::new();
        for layer in self.layers() {
            for name in layer.entries.keys() {
                if seen.insert(name.as_str()) {
                    names.push(name.as_str());
                }
            }
        }
        names
    }

    /// The visible variables as one JSON map (inner layers win), as tasks
    /// read them (`Context::vars`): templates as written, and without the
    /// run-wide values (`groups`, `hostvars`), which would make every
    /// invocation cost O(hosts). Tasks evaluate those through `Context::eval`.
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut map = serde_json::Map::new();
        for name in self.names() {
            match self.entry(name) {
                Some(Entry::Shared(_) | Entry::HostVars(_)) | None => {}
                Some(_) => {
                    if let Some(value) = self.get(name) {
                        map.insert(name.to_string(), value);
                    }
                }
            }
        }
        map
    }

    pub(crate) fn entry(&self, name: &str) -> Option<&Entry> {
        self.layers().find_map(|layer| layer.entries.get(name))
    }

    fn layers(&self) -> impl Iterator<Item = &Layer> {
        std::iter::successors(Some(self.layer.as_ref()), |layer| {
            layer.parent.as_ref().map(|p| p.layer.as_ref())
        })
    }

    /// The secret values known without rendering: every string (also
    /// nested) under a secret-named key, every secret-origin value, and the
    /// secrets renders with these variables derived so far. Values that are
    /// still templates are skipped; `Templates::secrets` renders them.
    pub fn secrets(&self) -> Secrets {
        let mut secrets = Secrets::from_sets(self.secret_sets());
        if let Some(taint) = &self.taint {
            secrets.track(taint.clone());
        }
        secrets
    }

    /// The secret values of every layer, each layer's set computed once.
    pub(crate) fn secret_sets(&self) -> Vec<Arc<SecretSet>> {
        let mut sets = Vec::new();
        for layer in self.layers() {
            let own = layer.secrets.get_or_init(|| {
                let mut found = Vec::new();
                for (name, entry) in &layer.entries {
                    let secret = is_secret_name(name);
                    match entry {
                        Entry::Plain(value) | Entry::Data(value) => {
                            collect_value(value, secret, &mut found);
                        }
                        Entry::Secret(value) => collect_value(value, true, &mut found),
                        Entry::Template(json) => collect_json(json, secret, &mut found),
                        // Other hosts' secrets are found by the taint of
                        // the render that reads them.
                        Entry::Shared(_) | Entry::HostVars(_) => {}
                    }
                }
                SecretSet::shared(found)
            });
            sets.push(own.clone());
        }
        sets.retain(|set| !set.is_empty());
        sets.dedup_by(|a, b| Arc::ptr_eq(a, b));
        sets
    }

    /// The visible entries that are templated lazily, with their names.
    pub(crate) fn templated(&self) -> Vec<(&str, &serde_json::Value)> {
        self.names()
            .into_iter()
            .filter_map(|name| match self.entry(name)? {
                Entry::Template(json) => Some((name, json.as_ref())),
                _ => None,
            })
            .collect()
    }
}

/// Values with at least this many JSON nodes go through the conversion
/// cache; smaller ones are cheaper to convert than to hash and compare.
const CACHED_MIN_NODES: usize = 64;

/// How many large values the conversion cache keeps.
const CACHED_VALUES: usize = 128;

/// A converted large value, with the data it was converted from so that a
/// hash collision can never hand out the wrong value.
type Converted = (Arc<serde_json::Value>, bool, Entry);

/// The entry for a user-written value, templated lazily when it holds
/// templates. Large values are looked up in a cache keyed by a structural
/// hash and checked for equality, which costs no allocation.
fn convert_cached(value: &serde_json::Value, lazy: bool) -> Entry {
    static CACHE: OnceLock<Mutex<HashMap<u64, Converted>>> = OnceLock::new();
    let convert = || {
        if lazy && json_has_template(value) {
            Entry::Template(Arc::new(value.clone()))
        } else {
            Entry::Plain(from_json(value))
        }
    };
    if count_nodes(value, CACHED_MIN_NODES) < CACHED_MIN_NODES {
        return convert();
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    hash_json(value, &mut hasher);
    lazy.hash(&mut hasher);
    let key = hasher.finish();
    let cache = CACHE.get_or_init(Mutex::default);
    if let Some((data, was_lazy, entry)) = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&key)
        && *was_lazy == lazy
        && data.as_ref() == value
    {
        return entry.clone();
    }
    let entry = convert();
    let mut cache = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if cache.len() >= CACHED_VALUES {
        cache.clear();
    }
    cache.insert(key, (Arc::new(value.clone()), lazy, entry.clone()));
    entry
}

/// The number of nodes in a value, counting no further than `limit`.
fn count_nodes(value: &serde_json::Value, limit: usize) -> usize {
    let mut count = 1;
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            serde_json::Value::Array(items) => {
                count += items.len();
                stack.extend(items);
            }
            serde_json::Value::Object(map) => {
                count += map.len();
                stack.extend(map.values());
            }
            _ => {}
        }
        if count >= limit {
            break;
        }
    }
    count
}

fn hash_json(value: &serde_json::Value, hasher: &mut impl Hasher) {
    use serde_json::Value as J;
    match value {
        J::Null => 0u8.hash(hasher),
        J::Bool(b) => (1u8, b).hash(hasher),
        J::Number(n) => (2u8, n.to_string()).hash(hasher),
        J::String(s) => (3u8, s).hash(hasher),
        J::Array(items) => {
            (4u8, items.len()).hash(hasher);
            items.iter().for_each(|item| hash_json(item, hasher));
        }
        J::Object(map) => {
            (5u8, map.len()).hash(hasher);
            for (key, item) in map {
                key.hash(hasher);
                hash_json(item, hasher);
            }
        }
    }
}

impl fmt::Debug for Vars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values are left out on purpose: they may be secrets.
        f.debug_struct("Vars")
            .field("names", &self.names())
            .finish()
    }
}

/// A large, run-wide value (`groups`) converted to a template value once.
/// Cloning it, or inserting it with [`Vars::insert_shared`], shares it.
#[derive(Clone)]
pub struct Shared(Value);

impl Shared {
    pub fn new(json: &serde_json::Value) -> Shared {
        Shared(from_json(json))
    }
}

/// Every host's variables, the store behind `hostvars`: one entry per
/// inventory host, replaced as the run goes (a play's variables, then each
/// registered value and fact). `hostvars[h]` is a lazy view of the entry at
/// the time of the lookup, rendered in `h`'s own scope; nothing is copied.
#[derive(Default)]
pub struct HostTable {
    /// Behind a lock because `meta: refresh_inventory` may bring new hosts
    /// while renders read the table; each host's slot has its own lock.
    hosts: RwLock<IndexMap<String, Arc<RwLock<Vars>>>>,
}

impl HostTable {
    pub fn new(hosts: impl IntoIterator<Item = (String, Vars)>) -> Arc<HostTable> {
        Arc::new(HostTable {
            hosts: RwLock::new(
                hosts
                    .into_iter()
                    .map(|(name, vars)| (name, Arc::new(RwLock::new(vars))))
                    .collect(),
            ),
        })
    }

    fn slot(&self, host: &str) -> Option<Arc<RwLock<Vars>>> {
        self.hosts
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(host)
            .cloned()
    }

    /// A host's variables as they are now.
    pub fn get(&self, host: &str) -> Option<Vars> {
        let slot = self.slot(host)?;
        Some(
            slot.read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        )
    }

    /// Changes a host's variables (a host outside the table is ignored).
    pub fn update(&self, host: &str, change: impl FnOnce(&mut Vars)) {
        if let Some(slot) = self.slot(host) {
            change(
                &mut slot
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
        }
    }

    /// Adds a host the table does not have yet (a refreshed inventory's);
    /// a host it has keeps its variables.
    pub fn add(&self, host: &str, vars: impl FnOnce() -> Vars) {
        let mut hosts = self
            .hosts
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !hosts.contains_key(host) {
            hosts.insert(host.to_string(), Arc::new(RwLock::new(vars())));
        }
    }

    /// Every host's name, in the order they were added.
    pub fn hosts(&self) -> Vec<String> {
        self.hosts
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.hosts
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for HostTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostTable")
            .field("hosts", &self.len())
            .finish_non_exhaustive()
    }
}

/// What one render read, shared by every nested scope of that render.
#[derive(Default, Debug)]
pub(crate) struct Reads {
    secret: AtomicBool,
    host: AtomicBool,
}

impl Reads {
    /// Whether the render read a secret.
    pub(crate) fn secret(&self) -> bool {
        self.secret.load(Ordering::Relaxed)
    }

    /// Whether the render read host data.
    pub(crate) fn host_data(&self) -> bool {
        self.host.load(Ordering::Relaxed)
    }

    pub(crate) fn clear(&self) {
        self.secret.store(false, Ordering::Relaxed);
        self.host.store(false, Ordering::Relaxed);
    }

    fn mark(&self, secret: bool, host: bool) {
        if secret {
            self.secret.store(true, Ordering::Relaxed);
        }
        if host {
            self.host.store(true, Ordering::Relaxed);
        }
    }
}

/// A lazily rendered value, with what its render read.
type Rendered = (Value, bool, bool);

/// `hostvars` during one render.
struct HostVarsView {
    env: Arc<Environment<'static>>,
    table: Arc<HostTable>,
    reads: Arc<Reads>,
}

impl fmt::Debug for HostVarsView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostVars")
            .field("hosts", &self.table.len())
            .finish_non_exhaustive()
    }
}

impl Object for HostVarsView {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let vars = self.table.get(key.as_str()?)?;
        // A host's own scope, so that its lazily templated values render
        // with its variables, as Ansible's `hostvars[h]` does. What the
        // render reads there counts for the render that asked.
        Some(
            Scope {
                env: self.env.clone(),
                vars,
                hostvars: Some(self.table.clone()),
                depth: 0,
                rendered: Arc::default(),
                reads: self.reads.clone(),
            }
            .into_value(),
        )
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        self.mapped_enumerator(|this| Box::new(this.table.hosts().into_iter().map(Value::from)))
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.table.len())
    }
}

/// The root object a template looks names up in.
pub(crate) struct Scope {
    env: Arc<Environment<'static>>,
    vars: Vars,
    /// The `hostvars` of a host's scope inside `hostvars`.
    hostvars: Option<Arc<HostTable>>,
    /// How many lazily templated variables are being rendered around this
    /// scope, to stop reference loops.
    depth: usize,
    /// Lazily templated values already rendered during this render, shared
    /// with the nested scopes of those renders. Variables cannot change
    /// while a template renders, and without it a value used twice renders
    /// twice at every nesting level (minijinja looks variables up again to
    /// describe an error), which is exponential in the nesting depth.
    rendered: Arc<Mutex<HashMap<String, Rendered>>>,
    /// What this render read (secrets, host data).
    reads: Arc<Reads>,
}

impl Scope {
    pub(crate) fn new(env: Arc<Environment<'static>>, vars: Vars, reads: Arc<Reads>) -> Scope {
        Scope {
            env,
            vars,
            hostvars: None,
            depth: 0,
            rendered: Arc::default(),
            reads,
        }
    }

    pub(crate) fn into_value(self) -> Value {
        Value::from_object(self)
    }

    fn lookup(self: &Arc<Self>, name: &str) -> Option<Value> {
        let named_secret = is_secret_name(name);
        match self.vars.entry(name) {
            Some(Entry::Plain(value) | Entry::Shared(value)) => {
                self.reads.mark(named_secret, false);
                Some(value.clone())
            }
            Some(Entry::Data(value)) => {
                self.reads.mark(named_secret, true);
                Some(value.clone())
            }
            Some(Entry::Secret(value)) => {
                self.reads.mark(true, true);
                Some(value.clone())
            }
            Some(Entry::HostVars(table)) => Some(self.hostvars_view(table)),
            Some(Entry::Template(json)) => {
                self.reads.mark(named_secret, false);
                let cached = lock(&self.rendered).get(name).cloned();
                let (value, secret, host) = cached.unwrap_or_else(|| {
                    // The lock is not held while rendering: the render looks
                    // other variables up in this same cache. What it reads
                    // is recorded with the value, so that a later use found
                    // in the cache taints its own part of the render too.
                    let (secret, host) = (self.reads.secret(), self.reads.host_data());
                    self.reads.clear();
                    let value = self.render_lazy(name, json);
                    let rendered = (value, self.reads.secret(), self.reads.host_data());
                    self.reads.mark(secret, host);
                    lock(&self.rendered).insert(name.to_string(), rendered.clone());
                    rendered
                });
                self.reads.mark(secret, host);
                Some(value)
            }
            None if name == "hostvars" => {
                let table = self.hostvars.clone()?;
                Some(self.hostvars_view(&table))
            }
            // Ansible's `vars` is the whole scope: `vars[name]`, `vars.keys()`.
            None if name == "vars" => Some(Value::from_dyn_object(self.clone())),
            None => None,
        }
    }

    fn hostvars_view(&self, table: &Arc<HostTable>) -> Value {
        Value::from_object(HostVarsView {
            env: self.env.clone(),
            table: table.clone(),
            reads: self.reads.clone(),
        })
    }

    fn render_lazy(&self, name: &str, json: &serde_json::Value) -> Value {
        if self.depth >= MAX_LAZY_DEPTH {
            return Value::from(Error::new(
                ErrorKind::InvalidOperation,
                format!("variable `{name}` refers to itself through other variables"),
            ));
        }
        let inner = Scope {
            env: self.env.clone(),
            vars: self.vars.clone(),
            hostvars: self.hostvars.clone(),
            depth: self.depth + 1,
            rendered: self.rendered.clone(),
            reads: self.reads.clone(),
        }
        .into_value();
        match super::render::render_json(&self.env, json, &inner) {
            Ok(value) => value,
            // Not Jinja at all (a Go template such as `{{ .Id }}` written
            // in a variable): it is used as written.
            Err(err) if err.syntax => from_json(json),
            // A lookup cannot fail, so the error travels as an invalid value
            // that fails where it is used. Its range would point into the
            // variable's own text, not the template being rendered, so only
            // the message is kept.
            Err(err) => Value::from(Error::new(
                if err.undefined.is_some() {
                    ErrorKind::UndefinedError
                } else {
                    ErrorKind::InvalidOperation
                },
                format!("in variable `{name}`: {}", err.message),
            )),
        }
    }
}

/// The cache's lock. A panic while it was held cannot leave it half
/// written (an insert is one call), so a poisoned lock is still usable.
fn lock(
    cache: &Mutex<HashMap<String, Rendered>>,
) -> std::sync::MutexGuard<'_, HashMap<String, Rendered>> {
    cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("vars", &self.vars)
            .finish_non_exhaustive()
    }
}

impl Object for Scope {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.lookup(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        self.lookup(key)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let names: Vec<Value> = self.vars.names().into_iter().map(Value::from).collect();
        Enumerator::Values(names)
    }
}

fn json_has_template(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => is_template(s),
        serde_json::Value::Array(items) => items.iter().any(json_has_template),
        serde_json::Value::Object(map) => map.values().any(json_has_template),
        _ => false,
    }
}

/// Gathers the strings and numbers under secret-named keys of a value.
fn collect_value(value: &Value, secret: bool, out: &mut Vec<String>) {
    match value.kind() {
        ValueKind::String | ValueKind::Number if secret => out.push(value.to_string()),
        ValueKind::Map => {
            if let Ok(keys) = value.try_iter() {
                for key in keys {
                    let nested = secret || key.as_str().is_some_and(is_secret_name);
                    if let Ok(item) = value.get_item(&key) {
                        collect_value(&item, nested, out);
                    }
                }
            }
        }
        ValueKind::Seq => {
            if let Ok(items) = value.try_iter() {
                for item in items {
                    collect_value(&item, secret, out);
                }
            }
        }
        _ => {}
    }
}

/// Like `collect_value`, for data kept as written. Template strings are not
/// secrets themselves (`"{{ vault_token }}"`); `Templates::secrets` renders them.
fn collect_json(value: &serde_json::Value, secret: bool, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) if secret && !is_template(s) => out.push(s.clone()),
        serde_json::Value::Number(n) if secret => out.push(n.to_string()),
        serde_json::Value::Array(items) => {
            for item in items {
                collect_json(item, secret, out);
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                collect_json(item, secret || is_secret_name(key), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn inner_layers_shadow_outer_ones_without_copying() {
        let mut base = Vars::new();
        base.insert_template("a", json!(1));
        base.insert_template("b", json!(2));
        let mut host = base.child();
        host.insert_template("b", json!(3));
        assert_eq!(host.get("a"), Some(json!(1)));
        assert_eq!(host.get("b"), Some(json!(3)));
        assert_eq!(base.get("b"), Some(json!(2)));
        assert_eq!(host.names(), vec!["b", "a"]);
    }

    #[test]
    fn template_strings_are_kept_as_written() {
        let mut vars = Vars::new();
        vars.insert_template("url", json!({"base": "https://{{ host }}"}));
        vars.insert_data("out", json!("{{ not a template }}"));
        assert!(matches!(vars.entry("url"), Some(Entry::Template(_))));
        assert!(matches!(vars.entry("out"), Some(Entry::Data(_))));
        assert_eq!(vars.get("url"), Some(json!({"base": "https://{{ host }}"})));
    }

    #[test]
    fn mappings_keep_their_order() {
        let value = from_json(&json!({"b": 1, "a": 2}));
        assert_eq!(to_json(&value).to_string(), r#"{"b":1,"a":2}"#);
    }
}
