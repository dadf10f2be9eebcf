//! Variables as templates see them: layered, shared between hosts, and
//! templated lazily the way Ansible does it.
//!
//! A run has one large body of variables that every host shares (play vars,
//! `groups`, `hostvars`) and a small body per host. Converting the shared part
//! into template values for every render would make each render cost
//! O(hosts), so `Vars` is a chain of immutable layers behind `Arc`s: build the
//! shared layer once, then give each host a cheap `child()` layer on top of it.
//! Lookups walk the chain from the innermost layer outwards, so a host value
//! shadows a shared one, and nothing is copied.
//!
//! Values are converted to template values once, when inserted. Values that
//! hold template strings (`url: "https://{{ host }}"`) are kept as written
//! and rendered each time a template looks them up, in the scope of that
//! lookup, which is Ansible's lazy templating: a variable may refer to
//! variables that are only defined later or only for some hosts.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use indexmap::IndexMap;
use minijinja::value::{Enumerator, Object, ObjectExt, ObjectRepr, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};

use crate::secret::{SecretSet, Secrets, is_secret_name};
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
}

#[derive(Clone, Default)]
struct Layer {
    entries: IndexMap<String, Entry>,
    parent: Option<Vars>,
    /// The secret values found in this layer's own entries, computed on the
    /// first masking request and reset by every insert. Caching per layer is
    /// what keeps `Secrets::from_vars` cheap for 1000 hosts sharing a base.
    secrets: OnceLock<Arc<SecretSet>>,
}

#[derive(Clone)]
pub(crate) enum Entry {
    /// Data, converted to a template value once.
    Data(Value),
    /// Data holding template strings, rendered at each lookup.
    Template(Arc<serde_json::Value>),
}

impl Vars {
    pub fn new() -> Vars {
        Vars::default()
    }

    /// A new, empty layer on top of `self`: what a host, a block or a loop
    /// iteration adds goes there, and `self` stays shared and untouched.
    pub fn child(&self) -> Vars {
        Vars {
            layer: Arc::new(Layer {
                parent: Some(self.clone()),
                ..Layer::default()
            }),
        }
    }

    /// Defines a variable from YAML or JSON data. Strings holding `{{ }}` or
    /// `{% %}`, at any depth, are rendered lazily when a template uses them.
    pub fn insert(&mut self, name: impl Into<String>, value: serde_json::Value) {
        let entry = if json_has_template(&value) {
            Entry::Template(Arc::new(value))
        } else {
            Entry::Data(from_json(&value))
        };
        self.put(name.into(), entry);
    }

    /// Defines a variable whose strings are never templated: registered task
    /// results and facts gathered from hosts. This is Ansible's `!unsafe`: text
    /// that came from a machine must not be able to run template code.
    pub fn insert_raw(&mut self, name: impl Into<String>, value: serde_json::Value) {
        self.put(name.into(), Entry::Data(from_json(&value)));
    }

    /// Defines a variable from a value converted once and shared by every
    /// render (`groups`): inserting it costs one reference count.
    pub fn insert_shared(&mut self, name: impl Into<String>, value: &Shared) {
        self.put(name.into(), Entry::Data(value.0.clone()));
    }

    /// Defines `hostvars`, built once per run with `Templates::hostvars`.
    pub fn insert_hostvars(&mut self, hostvars: &HostVars) {
        self.put(
            "hostvars".to_string(),
            Entry::Data(Value::from_dyn_object(hostvars.object.clone())),
        );
    }

    fn put(&mut self, name: String, entry: Entry) {
        let layer = Arc::make_mut(&mut self.layer);
        layer.secrets = OnceLock::new();
        layer.entries.insert(name, entry);
    }

    /// Whether a variable is defined in any layer.
    pub fn contains(&self, name: &str) -> bool {
        self.entry(name).is_some()
    }

    /// A variable's value as data. Lazily templated values come back as
    /// written (unrendered); use `Templates::render_str("{{ name }}")` for
    /// the rendered value.
    pub fn get(&self, name: &str) -> Option<serde_json::Value> {
        match self.entry(name)? {
            Entry::Data(value) => Some(to_json(value)),
            Entry::Template(json) => Some(json.as_ref().clone()),
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

    /// All visible variables as one JSON map (inner layers win). This costs
    /// O(all variables); it is meant for debugging output, not for renders.
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut map = serde_json::Map::new();
        for name in self.names() {
            if let Some(value) = self.get(name) {
                map.insert(name.to_string(), value);
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

    /// The secret values of every layer, each layer's set computed once.
    pub(crate) fn secret_sets(&self) -> Vec<Arc<SecretSet>> {
        let mut sets = Vec::new();
        for layer in self.layers() {
            let own = layer.secrets.get_or_init(|| {
                let mut found = Vec::new();
                for (name, entry) in &layer.entries {
                    let secret = is_secret_name(name);
                    match entry {
                        Entry::Data(value) => collect_value(value, secret, &mut found),
                        Entry::Template(json) => collect_json(json, secret, &mut found),
                    }
                }
                SecretSet::shared(found)
            });
            sets.push(own.clone());
            for entry in layer.entries.values() {
                if let Entry::Data(value) = entry
                    && let Some(hostvars) = value.downcast_object_ref::<HostVarsObject>()
                {
                    sets.extend(hostvars.secret_sets());
                }
            }
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
                Entry::Data(_) => None,
            })
            .collect()
    }
}

impl From<serde_json::Map<String, serde_json::Value>> for Vars {
    /// Every entry is templated lazily, except `hostvars`: a JSON
    /// `hostvars` holds other hosts' values, which must not render in this
    /// host's scope (use `Templates::hostvars` for per-host rendering).
    fn from(map: serde_json::Map<String, serde_json::Value>) -> Vars {
        Vars::from(&map)
    }
}

impl From<&serde_json::Map<String, serde_json::Value>> for Vars {
    /// Like the owned conversion. Large values (`groups`, `hostvars`) are
    /// converted once per distinct content and reused, because a plain map
    /// is converted again at every render.
    fn from(map: &serde_json::Map<String, serde_json::Value>) -> Vars {
        let mut layer = Layer::default();
        layer.entries.reserve(map.len());
        for (name, value) in map {
            layer
                .entries
                .insert(name.clone(), convert_cached(value, name != "hostvars"));
        }
        Vars {
            layer: Arc::new(layer),
        }
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

/// The entry for a value, templated lazily when `lazy` and it holds
/// templates. Large values are looked up in a cache keyed by a structural
/// hash and checked for equality, which costs no allocation.
fn convert_cached(value: &serde_json::Value, lazy: bool) -> Entry {
    static CACHE: OnceLock<Mutex<HashMap<u64, Converted>>> = OnceLock::new();
    let convert = || {
        if lazy && json_has_template(value) {
            Entry::Template(Arc::new(value.clone()))
        } else {
            Entry::Data(from_json(value))
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

/// What templates read variables from: a layered `Vars`, or a plain JSON
/// map as the executor keeps them.
///
/// A map is converted into a `Vars` at every call, which costs O(size of
/// the map), `hostvars` included; a `Vars` costs nothing. Both are
/// templated lazily; a value that is not valid Jinja (a registered result
/// holding a Go template such as `{{ .Id }}`) is then used as written.
pub trait Variables {
    /// The variables as layers.
    fn to_vars(&self) -> Cow<'_, Vars>;

    /// The secret values among the variables (see `Secrets::from_vars`).
    fn known_secrets(&self) -> Secrets;
}

impl Variables for Vars {
    fn to_vars(&self) -> Cow<'_, Vars> {
        Cow::Borrowed(self)
    }

    fn known_secrets(&self) -> Secrets {
        Secrets::from_sets(self.secret_sets())
    }
}

impl Variables for serde_json::Map<String, serde_json::Value> {
    fn to_vars(&self) -> Cow<'_, Vars> {
        Cow::Owned(Vars::from(self))
    }

    fn known_secrets(&self) -> Secrets {
        let mut found = Vec::new();
        for (name, value) in self {
            collect_json(value, is_secret_name(name), &mut found);
        }
        Secrets::from_sets(vec![SecretSet::shared(found)])
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

/// Every host's variables, shared by all hosts of a run as `hostvars`.
/// Build it once with `Templates::hostvars` and insert it into each host's
/// `Vars`; cloning is one `Arc`.
#[derive(Clone)]
pub struct HostVars {
    pub(crate) object: Arc<HostVarsObject>,
}

impl HostVars {
    pub(crate) fn new(env: Arc<Environment<'static>>, hosts: IndexMap<String, Vars>) -> HostVars {
        HostVars {
            object: Arc::new(HostVarsObject {
                env,
                hosts,
                secrets: OnceLock::new(),
            }),
        }
    }
}

pub(crate) struct HostVarsObject {
    env: Arc<Environment<'static>>,
    hosts: IndexMap<String, Vars>,
    /// The secret sets of all hosts, gathered once per run.
    secrets: OnceLock<Vec<Arc<SecretSet>>>,
}

impl HostVarsObject {
    fn secret_sets(&self) -> Vec<Arc<SecretSet>> {
        self.secrets
            .get_or_init(|| {
                let mut sets: Vec<Arc<SecretSet>> = Vec::new();
                for vars in self.hosts.values() {
                    for set in vars.secret_sets() {
                        if !sets.iter().any(|s| Arc::ptr_eq(s, &set)) {
                            sets.push(set);
                        }
                    }
                }
                sets
            })
            .clone()
    }
}

impl fmt::Debug for HostVarsObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostVars")
            .field("hosts", &self.hosts.len())
            .finish_non_exhaustive()
    }
}

impl Object for HostVarsObject {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let vars = self.hosts.get(key.as_str()?)?;
        // A host's own scope, so that its lazily templated values render
        // with its variables, as Ansible's `hostvars[h]` does.
        Some(Scope::new(self.env.clone(), vars.clone(), 0).into_value())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        self.mapped_enumerator(|this| Box::new(this.hosts.keys().map(|k| Value::from(k.as_str()))))
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.hosts.len())
    }
}

/// The root object a template looks names up in.
pub(crate) struct Scope {
    env: Arc<Environment<'static>>,
    vars: Vars,
    /// How many lazily templated variables are being rendered around this
    /// scope, to stop reference loops.
    depth: usize,
    /// Lazily templated values already rendered during this render, shared
    /// with the nested scopes of those renders. Variables cannot change
    /// while a template renders, and without it a value used twice renders
    /// twice at every nesting level (minijinja looks variables up again to
    /// describe an error), which is exponential in the nesting depth.
    rendered: Arc<Mutex<HashMap<String, Value>>>,
}

impl Scope {
    pub(crate) fn new(env: Arc<Environment<'static>>, vars: Vars, depth: usize) -> Scope {
        Scope {
            env,
            vars,
            depth,
            rendered: Arc::default(),
        }
    }

    pub(crate) fn into_value(self) -> Value {
        Value::from_object(self)
    }

    fn lookup(self: &Arc<Self>, name: &str) -> Option<Value> {
        match self.vars.entry(name) {
            Some(Entry::Data(value)) => Some(value.clone()),
            Some(Entry::Template(json)) => {
                let cached = lock(&self.rendered).get(name).cloned();
                Some(cached.unwrap_or_else(|| {
                    // The lock is not held while rendering: the render looks
                    // other variables up in this same cache.
                    let value = self.render_lazy(name, json);
                    lock(&self.rendered).insert(name.to_string(), value.clone());
                    value
                }))
            }
            // Ansible's `vars` is the whole scope: `vars[name]`, `vars.keys()`.
            None if name == "vars" => Some(Value::from_dyn_object(self.clone())),
            None => None,
        }
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
            depth: self.depth + 1,
            rendered: self.rendered.clone(),
        }
        .into_value();
        match super::render_json(&self.env, json, &inner) {
            Ok(value) => value,
            // Not Jinja at all: text from a machine (a Go template in a
            // registered command line) that came in through a plain map,
            // which cannot say it is raw. It is data.
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
    cache: &Mutex<HashMap<String, Value>>,
) -> std::sync::MutexGuard<'_, HashMap<String, Value>> {
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

/// A mapping that keeps its keys in insertion order, as YAML and Python
/// dicts do (minijinja's own maps sort their keys).
#[derive(Debug, Default)]
pub(crate) struct OrderedMap(pub(crate) IndexMap<Value, Value>);

impl Object for OrderedMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.0.get(key).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        self.mapped_enumerator(|this| Box::new(this.0.keys().cloned()))
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.len())
    }
}

/// Builds an ordered map value.
pub(crate) fn map_value(pairs: impl IntoIterator<Item = (Value, Value)>) -> Value {
    Value::from_object(OrderedMap(pairs.into_iter().collect()))
}

/// Converts data to a template value, keeping mapping order.
pub(crate) fn from_json(value: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match value {
        J::Null => Value::from(()),
        J::Bool(b) => Value::from(*b),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        J::String(s) => Value::from(s.as_str()),
        J::Array(items) => Value::from_object(items.iter().map(from_json).collect::<Vec<_>>()),
        J::Object(map) => map_value(
            map.iter()
                .map(|(k, v)| (Value::from(k.as_str()), from_json(v))),
        ),
    }
}

/// Converts a template value back to data. Values that have no data form
/// (functions, macros) become `null`; undefined values inside containers too.
pub(crate) fn to_json(value: &Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// Like `to_json`, but a value that failed (a lazily templated variable
/// inside a scope that is serialized whole) is an error, not `null`.
pub(crate) fn try_to_json(value: &Value) -> Result<serde_json::Value, String> {
    serde_json::to_value(value).map_err(|err| err.to_string())
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
            // `hostvars` is collected separately, once per run.
            if value.downcast_object_ref::<HostVarsObject>().is_some() {
                return;
            }
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
        base.insert("a", json!(1));
        base.insert("b", json!(2));
        let mut host = base.child();
        host.insert("b", json!(3));
        assert_eq!(host.get("a"), Some(json!(1)));
        assert_eq!(host.get("b"), Some(json!(3)));
        assert_eq!(base.get("b"), Some(json!(2)));
        assert_eq!(host.names(), vec!["b", "a"]);
    }

    #[test]
    fn template_strings_are_kept_as_written() {
        let mut vars = Vars::new();
        vars.insert("url", json!({"base": "https://{{ host }}"}));
        vars.insert_raw("out", json!("{{ not a template }}"));
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
