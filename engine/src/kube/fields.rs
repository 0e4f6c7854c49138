//! Which fields of each kind `kube play` acts on. A document is walked field by field against these lists,
//! so nothing in it is ignored silently: a field on no list is named in a note (it is left out), and a
//! field whose absence would change what runs (init containers, env from other objects, volume sources
//! berth has no counterpart for) is refused.

use serde_json::Value;

use super::Note;

/// Fields kube play carries out, for a pod spec. `*` is any key; arrays are walked through.
const POD_SPEC: &[&str] = &[
    "containers.name",
    "containers.image",
    "containers.imagePullPolicy",
    "containers.command",
    "containers.args",
    "containers.workingDir",
    "containers.env.name",
    "containers.env.value",
    "containers.ports.name",
    "containers.ports.containerPort",
    "containers.ports.hostPort",
    "containers.ports.hostIP",
    "containers.ports.protocol",
    "containers.resources.limits.memory",
    "containers.resources.limits.cpu",
    "containers.livenessProbe.exec.command",
    "containers.livenessProbe.periodSeconds",
    "containers.livenessProbe.timeoutSeconds",
    "containers.livenessProbe.failureThreshold",
    "containers.livenessProbe.initialDelaySeconds",
    "containers.securityContext.runAsUser",
    "containers.securityContext.runAsGroup",
    "containers.securityContext.privileged",
    "containers.securityContext.capabilities.add",
    "containers.securityContext.capabilities.drop",
    "containers.securityContext.readOnlyRootFilesystem",
    "containers.securityContext.allowPrivilegeEscalation",
    "containers.volumeMounts.name",
    "containers.volumeMounts.mountPath",
    "containers.volumeMounts.readOnly",
    "containers.tty",
    "containers.stdin",
    // Defaults kubectl writes back that mean nothing to a local run.
    "containers.terminationMessagePath",
    "containers.terminationMessagePolicy",
    "volumes.name",
    "volumes.persistentVolumeClaim.claimName",
    "volumes.persistentVolumeClaim.readOnly",
    "volumes.hostPath.path",
    "volumes.hostPath.type",
    "volumes.emptyDir.medium",
    "volumes.emptyDir.sizeLimit",
    "restartPolicy",
    "hostAliases.ip",
    "hostAliases.hostnames",
    "terminationGracePeriodSeconds",
    "hostname",
    "shareProcessNamespace",
    "securityContext.runAsUser",
    "securityContext.runAsGroup",
];

/// Fields without which the pod would run as something else than the file says: refused, not left out.
const REFUSED: &[&str] = &[
    "initContainers",
    "ephemeralContainers",
    "containers.envFrom",
    "containers.env.valueFrom",
    "volumes",
    "hostNetwork",
    "hostPID",
    "hostIPC",
];

const META: &[&str] =
    &["apiVersion", "kind", "metadata.name", "metadata.labels.*", "metadata.annotations.*", "status.*"];

/// A field refused by name, with the path as written (`spec.containers[0].envFrom`).
pub(super) struct Refused(pub String);

/// Walks `doc` (of the kind it names) and returns the notes for fields left out, or the first refused one.
pub(super) fn check(doc: &Value, kind: &str, object: &str) -> Result<Vec<Note>, Refused> {
    let pod_prefix = match kind {
        "Pod" => Some("spec."),
        "Deployment" => Some("spec.template.spec."),
        _ => None,
    };
    let mut allowed: Vec<String> = META.iter().map(|s| s.to_string()).collect();
    let mut refused = Vec::new();
    if let Some(prefix) = pod_prefix {
        allowed.extend(POD_SPEC.iter().map(|f| format!("{prefix}{f}")));
        refused.extend(REFUSED.iter().map(|f| format!("{prefix}{f}")));
    }
    match kind {
        "Deployment" => allowed.extend(
            [
                "spec.replicas",
                "spec.selector.matchLabels.*",
                "spec.template.metadata.labels.*",
                "spec.template.metadata.annotations.*",
                "spec.template.metadata.name",
            ]
            .map(String::from),
        ),
        "Service" => allowed.extend(
            [
                "spec.selector.*",
                "spec.ports.name",
                "spec.ports.port",
                "spec.ports.targetPort",
                "spec.ports.nodePort",
                "spec.ports.protocol",
                "spec.type",
            ]
            .map(String::from),
        ),
        "PersistentVolumeClaim" => {
            allowed.extend(["spec.accessModes", "spec.resources.requests.storage", "spec.volumeMode"].map(String::from))
        }
        _ => {}
    }
    let mut notes = Vec::new();
    walk(doc, "", "", &allowed, &refused, object, &mut notes)?;
    Ok(notes)
}

fn walk(
    value: &Value,
    pattern: &str,
    shown: &str,
    allowed: &[String],
    refused: &[String],
    object: &str,
    notes: &mut Vec<Note>,
) -> Result<(), Refused> {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, pattern, &format!("{shown}[{i}]"), allowed, refused, object, notes)?;
            }
            Ok(())
        }
        Value::Object(map) => {
            for (key, child) in map {
                let path = if pattern.is_empty() { key.clone() } else { format!("{pattern}.{key}") };
                let child_shown = if shown.is_empty() { key.clone() } else { format!("{shown}.{key}") };
                if allowed.iter().any(|a| *a == path || wildcard(a, &path)) {
                    continue;
                }
                if allowed.iter().any(|a| a.starts_with(&format!("{path}."))) {
                    walk(child, &path, &child_shown, allowed, refused, object, notes)?;
                } else if refused.iter().any(|r| path.starts_with(r.as_str())) {
                    return Err(Refused(child_shown));
                } else if !child.is_null() {
                    notes.push(Note(format!("{object}: {child_shown} is not supported by kube play; left out")));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Whether `path` is a key under a pattern ending in `.*`.
fn wildcard(pattern: &str, path: &str) -> bool {
    pattern.strip_suffix('*').is_some_and(|prefix| path.starts_with(prefix) && !path[prefix.len()..].contains('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn notes_and_refusals_name_the_field() {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "i", "lifecycle": {"preStop": {}}}], "dnsPolicy": "None"}
        });
        let notes = check(&pod, "Pod", "Pod p").ok().expect("not refused");
        let text: Vec<String> = notes.iter().map(|n| n.0.clone()).collect();
        assert_eq!(
            text,
            [
                "Pod p: spec.containers[0].lifecycle is not supported by kube play; left out",
                "Pod p: spec.dnsPolicy is not supported by kube play; left out"
            ]
        );
        let refused = json!({"kind": "Pod", "spec": {"containers": [{"name": "c", "envFrom": [{}]}]}});
        assert_eq!(check(&refused, "Pod", "Pod p").err().map(|r| r.0).as_deref(), Some("spec.containers[0].envFrom"));
        let volume = json!({"kind": "Pod", "spec": {"volumes": [{"name": "v", "nfs": {"server": "x"}}]}});
        assert_eq!(check(&volume, "Pod", "Pod p").err().map(|r| r.0).as_deref(), Some("spec.volumes[0].nfs"));
    }
}
