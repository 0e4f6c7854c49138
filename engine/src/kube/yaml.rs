//! Multi-document YAML: objects written one per document, documents read back as JSON values so each can
//! be checked field by field before it is read into its typed model.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::KubeError;

/// Objects as one YAML stream, `---` between documents.
pub(super) fn write(objects: &[Value]) -> Result<String, KubeError> {
    let mut out = String::new();
    for (i, object) in objects.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&serde_norway::to_string(object).map_err(|e| KubeError::Write(e.to_string()))?);
    }
    Ok(out)
}

/// Every non-empty document of a YAML stream, numbered from 1 in errors.
pub(super) fn read(path: &Path, text: &str) -> Result<Vec<Value>, KubeError> {
    let mut docs = Vec::new();
    for (i, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(doc).map_err(|e| KubeError::Malformed {
            path: path.to_path_buf(),
            document: i + 1,
            reason: e.to_string(),
        })?;
        match value {
            Value::Null => {}
            Value::Object(_) => docs.push(value),
            _ => {
                return Err(KubeError::Malformed {
                    path: path.to_path_buf(),
                    document: i + 1,
                    reason: "expected a Kubernetes object (a mapping with apiVersion and kind)".into(),
                });
            }
        }
    }
    Ok(docs)
}
