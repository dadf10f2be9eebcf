//! A minimal template engine, standing in until the full one (Ansible filters,
//! spans inside YAML strings, undeclared-variable analysis) lands. The full one
//! must keep these methods: render_node, render_value, render_str, render_file,
//! eval_node, eval_str, undeclared.
use crate::error::InputError;
use crate::yaml::Node;
use miette::SourceSpan;
use serde_json::{Map, Value};
pub type Vars = Map<String, Value>;
pub struct Templates {
    env: minijinja::Environment<'static>,
}
impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}
impl Templates {
    pub fn new() -> Templates {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        Templates { env }
    }
    pub fn render_str(&self, text: &str, vars: &Vars) -> Result<Value, String> {
        if !crate::yaml::is_template(text) {
            return Ok(Value::String(text.into()));
        }
        let ctx = minijinja::Value::from(minijinja::value::Serde(vars));
        let t = text.trim();
        if t.starts_with("{{") && t.ends_with("}}") && t.matches("{{").count() == 1 {
            let expr = self
                .env
                .compile_expression(&t[2..t.len() - 2])
                .map_err(|e| e.to_string())?;
            let v = expr.eval(ctx).map_err(|e| e.to_string())?;
            return serde_json::to_value(&v).map_err(|e| e.to_string());
        }
        self.env
            .render_str(text, ctx)
            .map(Value::String)
            .map_err(|e| e.to_string())
    }
    pub fn render_value(&self, v: &Value, vars: &Vars) -> Result<Value, String> {
        Ok(match v {
            Value::String(s) => self.render_str(s, vars)?,
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| self.render_value(x, vars))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| Ok((k.clone(), self.render_value(x, vars)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }
    pub fn render_node(&self, node: &Node, vars: &Vars) -> Result<Value, InputError> {
        self.render_value(&node.to_json(), vars)
            .map_err(|e| InputError::at(node, e))
    }
    pub fn eval_str(&self, expr: &str, vars: &Vars) -> Result<Value, String> {
        let ctx = minijinja::Value::from(minijinja::value::Serde(vars));
        let e = self
            .env
            .compile_expression(expr)
            .map_err(|e| e.to_string())?;
        let v = e.eval(ctx).map_err(|e| e.to_string())?;
        serde_json::to_value(&v).map_err(|e| e.to_string())
    }
    pub fn eval_node(&self, node: &Node, vars: &Vars) -> Result<Value, InputError> {
        match &node.value {
            crate::yaml::Value::Str(s) => {
                self.eval_str(s, vars).map_err(|e| InputError::at(node, e))
            }
            _ => Ok(node.to_json()),
        }
    }
    pub fn undeclared(
        &self,
        _node: &Node,
        _expr: bool,
    ) -> Result<Vec<(String, SourceSpan)>, InputError> {
        Ok(vec![])
    }
}
impl Templates {
    pub fn render_file(
        &self,
        text: &str,
        vars: &Vars,
        _trim: bool,
        _lstrip: bool,
    ) -> Result<String, String> {
        let ctx = minijinja::Value::from(minijinja::value::Serde(vars));
        self.env.render_str(text, ctx).map_err(|e| e.to_string())
    }
}
