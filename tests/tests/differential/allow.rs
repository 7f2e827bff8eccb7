//! The allow-list: every difference between kube-sim and kube-apiserver v1.37.2 the
//! differential harness knows of, each with its reason (also listed in docs/kube-sim.md).
//! Anything else fails the test.

/// One known difference.
pub struct Known {
    /// The sequence (test) it belongs to, or `*`.
    pub sequence: &'static str,
    /// A substring of the step's label, or `*`.
    pub step: &'static str,
    /// The path of the difference; a trailing `*` matches any continuation, a leading `*`
    /// any beginning.
    pub path: &'static str,
    pub reason: &'static str,
}

/// The entry that holds a difference, if any.
pub fn known(sequence: &str, step: &str, path: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| {
        (k.sequence == "*" || k.sequence == sequence)
            && (k.step == "*" || step.contains(k.step))
            && match (k.path.strip_prefix('*'), k.path.strip_suffix('*')) {
                (Some(suffix), _) => path.ends_with(suffix),
                (_, Some(prefix)) => path.starts_with(prefix),
                _ => path == k.path,
            }
    })
}

const INTERNAL_VALUES: &str = "`Invalid value:` of a Job's template: the real server prints \
    `json.Marshal` of the internal `core.PodTemplateSpec`, whose fields carry no json tags \
    (`\"Spec\":{\"Volumes\":null,...}`, every field of the pod spec); kube-sim prints the \
    template's metadata and abbreviates the rest (`{\"labels\":{...},...}`)";

pub const KNOWN: &[Known] = &[
    Known {
        sequence: "job",
        step: "immutable template",
        path: "body.message",
        reason: INTERNAL_VALUES,
    },
    Known {
        sequence: "job",
        step: "immutable template",
        path: "body.details.causes[0].message",
        reason: INTERNAL_VALUES,
    },
    Known {
        sequence: "lists",
        step: "unfiltered list",
        path: "body.*",
        reason: "the root-ca publisher puts `kube-root-ca.crt` in every namespace; kube-sim \
            runs no such controller",
    },
    Known {
        sequence: "lists",
        step: "bad continue token",
        path: "body.message",
        reason: "kube-sim's continue tokens are not etcd keys, so a garbled one fails to \
            decode with another message (same 400)",
    },
    Known {
        sequence: "deployment_scale_and_patch",
        step: "scale after put",
        path: "body.status.replicas",
        reason: "kube-sim's controllers settle within each request (per-request clock), so \
            the ReplicaSet has already scaled when the next request reads the Scale",
    },
    Known {
        sequence: "service",
        step: "load balancer status of a ClusterIP Service",
        path: "status",
        reason: "the real server validates status writes (422 `status.loadBalancer.ingress: \
            Forbidden: may only be used when spec.type is 'LoadBalancer'`); kube-sim validates \
            names, required workload fields and immutable fields only",
    },
    Known {
        sequence: "namespace",
        step: "second delete",
        path: "status",
        reason: "kube-sim's namespace controller empties and removes the namespace within \
            the next request; the real one takes seconds (meanwhile 1.37 answers 200 with the \
            Terminating namespace, as kube-sim now does too)",
    },
];
