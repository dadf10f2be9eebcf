//! Secret masking, minimal stand-in until the full module lands (it must keep
//! `MASK`, `Secrets::from_vars`, `add` and `mask`).
use serde_json::{Map, Value};
pub const MASK: &str = "********";
#[derive(Default, Clone)]
pub struct Secrets {
    values: Vec<String>,
}
impl Secrets {
    pub fn from_vars(_vars: &Map<String, Value>) -> Secrets {
        Secrets::default()
    }
    pub fn add(&mut self, v: &str) {
        self.values.push(v.into())
    }
    pub fn mask(&self, t: &str) -> String {
        let mut s = t.to_string();
        for v in &self.values {
            s = s.replace(v, MASK)
        }
        s
    }
}
