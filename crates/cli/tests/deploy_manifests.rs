//! The deployment files under `deploy/` against the Kubernetes API, the `cairn` binary, the
//! metrics contract and docs/OPERATIONS.md.
//!
//! Every YAML document under `deploy/kubernetes` is parsed into its Kubernetes API type
//! (k8s-openapi, Kubernetes 1.33) and serialized back: the k8s-openapi types ignore fields they
//! do not know, so a misspelt or misplaced field shows up as a difference between the file and
//! its round trip. KEDA and kustomize objects, the alert rules and the prometheus-adapter rules
//! have no published Rust types; small local structs that deny unknown fields stand in for them.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::{HorizontalPodAutoscaler, HorizontalPodAutoscalerBehavior};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, PodSpec, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every metric Cairn exports (the metrics contract of the HA deployment).
const CAIRN_METRICS: &[&str] = &[
    "cairn_http_requests_total",
    "cairn_queue_depth",
    "cairn_jobs_total",
    "cairn_workers_busy",
    "cairn_scheduler_leader",
    "cairn_scheduler_last_round_timestamp_seconds",
    "cairn_download_bytes_total",
    "cairn_download_throttled_seconds_total",
    "cairn_downloads_active",
    "cairn_downloads_rejected_total",
    "cairn_db_pool_connections",
    "cairn_db_pool_max",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
];

/// Cairn's histograms: queried through their `_bucket`, `_sum` and `_count` series.
const CAIRN_HISTOGRAMS: &[&str] = &[
    "cairn_http_request_duration_seconds",
    "cairn_job_wait_seconds",
    "cairn_job_run_seconds",
];

/// Metrics of the cluster, not of Cairn: cAdvisor (kubelet) and kube-state-metrics.
const CLUSTER_METRICS: &[&str] = &[
    "container_cpu_usage_seconds_total",
    "container_spec_cpu_quota",
    "container_spec_cpu_period",
    "container_memory_working_set_bytes",
    "container_spec_memory_limit_bytes",
    "kube_deployment_status_replicas_available",
    "kube_deployment_status_replicas_unavailable",
    "kube_pod_container_status_restarts_total",
];

/// The queues the workers serve.
const QUEUES: &[&str] = &["adhoc", "scheduled", "schemas", "default"];

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Kubernetes objects

/// A kustomization, as far as Cairn's use it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Kustomization {
    #[serde(rename = "apiVersion")]
    _api_version: String,
    #[serde(rename = "kind")]
    _kind: String,
    resources: Vec<String>,
    #[serde(default)]
    images: Vec<KustomizeImage>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KustomizeImage {
    name: String,
    new_name: String,
    new_tag: String,
}

/// A KEDA ScaledObject (keda.sh/v1alpha1) with prometheus triggers.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScaledObject {
    #[serde(rename = "apiVersion")]
    _api_version: String,
    #[serde(rename = "kind")]
    _kind: String,
    metadata: ObjectMeta,
    spec: ScaledObjectSpec,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScaledObjectSpec {
    scale_target_ref: ScaleTargetRef,
    min_replica_count: i32,
    max_replica_count: i32,
    polling_interval: u32,
    cooldown_period: u32,
    fallback: Fallback,
    advanced: Advanced,
    triggers: Vec<Trigger>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScaleTargetRef {
    api_version: String,
    kind: String,
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Fallback {
    failure_threshold: u32,
    replicas: i32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Advanced {
    horizontal_pod_autoscaler_config: HpaConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HpaConfig {
    behavior: HorizontalPodAutoscalerBehavior,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Trigger {
    #[serde(rename = "type")]
    kind: String,
    metadata: PrometheusTrigger,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PrometheusTrigger {
    server_address: String,
    query: String,
    threshold: String,
    activation_threshold: String,
    ignore_null_values: String,
}

/// One parsed YAML document.
#[derive(Debug)]
enum Typed {
    ServiceAccount,
    ConfigMap(Box<ConfigMap>),
    Secret(Box<Secret>),
    Service(Box<Service>),
    Deployment(Box<Deployment>),
    Job(Box<Job>),
    Ingress(Box<Ingress>),
    Hpa(Box<HorizontalPodAutoscaler>),
    Pdb(Box<PodDisruptionBudget>),
    ScaledObject(Box<ScaledObject>),
    Kustomization(Box<Kustomization>),
}

/// A document and the file it came from.
#[derive(Debug)]
struct Manifest {
    file: PathBuf,
    object: Typed,
}

/// Every YAML file under `dir`, recursively, sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Every document of every YAML file under deploy/kubernetes, typed.
fn manifests() -> Vec<Manifest> {
    let mut out = Vec::new();
    for file in yaml_files(&deploy_dir().join("kubernetes")) {
        let text = read(&file);
        for (i, doc) in yaml_serde::Deserializer::from_str(&text).enumerate() {
            let value = Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{} document {i}: {e}", file.display()));
            let object = typed_object(&value)
                .unwrap_or_else(|e| panic!("{} document {i}: {e}", file.display()));
            out.push(Manifest {
                file: file.clone(),
                object,
            });
        }
    }
    assert!(!out.is_empty(), "no manifests under deploy/kubernetes");
    out
}

/// The document as its API type, chosen by apiVersion and kind.
fn typed_object(value: &Value) -> Result<Typed, String> {
    let api_version = value["apiVersion"].as_str().ok_or("no apiVersion")?;
    let kind = value["kind"].as_str().ok_or("no kind")?;
    Ok(match (api_version, kind) {
        ("v1", "ServiceAccount") => {
            round_trip::<ServiceAccount>(value)?;
            Typed::ServiceAccount
        }
        ("v1", "ConfigMap") => Typed::ConfigMap(round_trip(value)?),
        ("v1", "Secret") => Typed::Secret(round_trip(value)?),
        ("v1", "Service") => Typed::Service(round_trip(value)?),
        ("apps/v1", "Deployment") => Typed::Deployment(round_trip(value)?),
        ("batch/v1", "Job") => Typed::Job(round_trip(value)?),
        ("networking.k8s.io/v1", "Ingress") => Typed::Ingress(round_trip(value)?),
        ("autoscaling/v2", "HorizontalPodAutoscaler") => Typed::Hpa(round_trip(value)?),
        ("policy/v1", "PodDisruptionBudget") => Typed::Pdb(round_trip(value)?),
        ("keda.sh/v1alpha1", "ScaledObject") => Typed::ScaledObject(strict(value)?),
        ("kustomize.config.k8s.io/v1beta1", "Kustomization") => {
            Typed::Kustomization(strict(value)?)
        }
        _ => return Err(format!("unexpected {api_version} {kind}")),
    })
}

/// Parses `value` as `T`, then checks that serializing it gives `value` back, field for field.
fn round_trip<T>(value: &Value) -> Result<Box<T>, String>
where
    T: DeserializeOwned + serde::Serialize,
{
    let object: T = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    let back = serde_json::to_value(&object).map_err(|e| e.to_string())?;
    match first_difference(value, &back, "") {
        None => Ok(Box::new(object)),
        Some(path) => Err(format!(
            "field {path} is not what the API type keeps (misspelt, misplaced or wrongly typed?)"
        )),
    }
}

/// Parses `value` into a local struct that denies unknown fields.
fn strict<T: DeserializeOwned>(value: &Value) -> Result<Box<T>, String> {
    serde_json::from_value(value.clone())
        .map(Box::new)
        .map_err(|e| e.to_string())
}

/// The path of the first place where `a` and `b` differ.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(u), Some(v)) => first_difference(u, v, &format!("{path}.{k}")),
                _ => Some(format!("{path}.{k}")),
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (u, v))| first_difference(u, v, &format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some(path.to_string()),
    }
}

fn deployments(all: &[Manifest]) -> Vec<&Deployment> {
    all.iter()
        .filter_map(|m| match &m.object {
            Typed::Deployment(d) => Some(&**d),
            _ => None,
        })
        .collect()
}

fn name(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().expect("every object is named")
}

fn deployment<'a>(all: &'a [Manifest], wanted: &str) -> &'a Deployment {
    deployments(all)
        .into_iter()
        .find(|d| name(&d.metadata) == wanted)
        .unwrap_or_else(|| panic!("no Deployment {wanted}"))
}

fn pod_spec(d: &Deployment) -> &PodSpec {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod spec")
}

fn pod_labels(d: &Deployment) -> &BTreeMap<String, String> {
    d.spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.as_ref())
        .expect("pod template labels")
}

/// Whether some Deployment's pods carry every label of `selector`.
fn selects_a_deployment(all: &[Manifest], selector: &BTreeMap<String, String>) -> bool {
    !selector.is_empty()
        && deployments(all).into_iter().any(|d| {
            let labels = pod_labels(d);
            selector.iter().all(|(k, v)| labels.get(k) == Some(v))
        })
}

/// The settings every pod gets from the ConfigMap.
fn config_map(all: &[Manifest]) -> &BTreeMap<String, String> {
    all.iter()
        .find_map(|m| match &m.object {
            Typed::ConfigMap(c) => c.data.as_ref(),
            _ => None,
        })
        .expect("a ConfigMap with data")
}

/// The placeholder values of the example Secret.
fn secret_example(all: &[Manifest]) -> &BTreeMap<String, String> {
    all.iter()
        .find_map(|m| match &m.object {
            Typed::Secret(s) => s.string_data.as_ref(),
            _ => None,
        })
        .expect("the example Secret's stringData")
}

/// Every container of the Deployments and Jobs, with its owner's name and its arguments.
fn containers(all: &[Manifest]) -> Vec<(&str, &[String])> {
    let mut out = Vec::new();
    for m in all {
        let (owner, pod) = match &m.object {
            Typed::Deployment(d) => (name(&d.metadata), pod_spec(d)),
            Typed::Job(j) => (
                name(&j.metadata),
                j.spec
                    .as_ref()
                    .and_then(|s| s.template.spec.as_ref())
                    .expect("pod"),
            ),
            _ => continue,
        };
        for c in &pod.containers {
            out.push((owner, c.args.as_deref().expect("args")));
        }
    }
    out
}

fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).expect("replicas")
}

// ---------------------------------------------------------------------------------------------
// Kubernetes tests

#[test]
fn every_manifest_parses_into_its_api_type_without_losing_a_field() {
    let all = manifests();
    let kinds: BTreeSet<&str> = all
        .iter()
        .map(|m| match m.object {
            Typed::ServiceAccount => "ServiceAccount",
            Typed::ConfigMap(_) => "ConfigMap",
            Typed::Secret(_) => "Secret",
            Typed::Service(_) => "Service",
            Typed::Deployment(_) => "Deployment",
            Typed::Job(_) => "Job",
            Typed::Ingress(_) => "Ingress",
            Typed::Hpa(_) => "HorizontalPodAutoscaler",
            Typed::Pdb(_) => "PodDisruptionBudget",
            Typed::ScaledObject(_) => "ScaledObject",
            Typed::Kustomization(_) => "Kustomization",
        })
        .collect();
    assert_eq!(kinds.len(), 11, "every kind is present: {kinds:?}");
}

#[test]
fn round_trip_catches_a_misspelt_field() {
    let misspelt = serde_json::json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
        "spec": {"selektor": {"a": "b"}}
    });
    let error = typed_object(&misspelt).expect_err("misspelt field refused");
    assert!(error.contains(".spec.selektor"), "{error}");
}

#[test]
fn kustomizations_list_every_manifest_beside_them() {
    let all = manifests();
    let mut seen = 0;
    for m in &all {
        let Typed::Kustomization(k) = &m.object else {
            continue;
        };
        seen += 1;
        let dir = m.file.parent().expect("directory");
        for resource in &k.resources {
            assert!(
                dir.join(resource).exists(),
                "{} lists missing {resource}",
                m.file.display()
            );
        }
        for file in std::fs::read_dir(dir)
            .expect("directory")
            .map(|e| e.unwrap().path())
        {
            let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
            if file.is_file() && file_name != "kustomization.yaml" {
                assert!(
                    k.resources.contains(&file_name),
                    "{} does not list {file_name}",
                    m.file.display()
                );
            }
        }
        for image in &k.images {
            assert_eq!(image.name, "cairn", "the manifests name the image `cairn`");
            assert!(!image.new_name.is_empty() && !image.new_tag.is_empty());
        }
    }
    assert_eq!(seen, 3, "base, keda and hpa-external");
}

#[test]
fn every_deployment_has_resources_probes_and_a_locked_down_container() {
    let all = manifests();
    let deployments = deployments(&all);
    assert_eq!(deployments.len(), 5);
    for d in deployments {
        let deployment = name(&d.metadata);
        let pod = pod_spec(d);
        let security = pod.security_context.as_ref().expect("pod securityContext");
        assert_eq!(security.run_as_non_root, Some(true), "{deployment}");
        assert_eq!(
            pod.automount_service_account_token,
            Some(false),
            "{deployment}"
        );
        for c in &pod.containers {
            let resources = c.resources.as_ref().expect("resources");
            for (what, quantities) in [
                ("requests", &resources.requests),
                ("limits", &resources.limits),
            ] {
                let quantities = quantities
                    .as_ref()
                    .unwrap_or_else(|| panic!("{deployment}: no {what}"));
                for resource in ["cpu", "memory"] {
                    assert!(
                        quantities.contains_key(resource),
                        "{deployment}: {what}.{resource}"
                    );
                }
            }
            let liveness = c.liveness_probe.as_ref().expect("livenessProbe");
            let readiness = c.readiness_probe.as_ref().expect("readinessProbe");
            let startup = c.startup_probe.as_ref().expect("startupProbe");
            let path = |p: &k8s_openapi::api::core::v1::Probe| {
                p.http_get
                    .as_ref()
                    .and_then(|h| h.path.clone())
                    .expect("httpGet path")
            };
            assert_eq!(path(liveness), "/ping", "{deployment}");
            assert_eq!(path(startup), "/ping", "{deployment}");
            assert_eq!(path(readiness), "/ready", "{deployment}");
            // The probes reach the port the process binds.
            let port_name = match &readiness.http_get.as_ref().unwrap().port {
                IntOrString::String(s) => s.clone(),
                IntOrString::Int(i) => panic!("{deployment}: probe on bare port {i}"),
            };
            let port = c
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(&port_name))
                .unwrap_or_else(|| panic!("{deployment}: no port {port_name}"));
            let args = c.args.as_ref().expect("args");
            let bind = args
                .iter()
                .position(|a| a == "--bind" || a == "--metrics-bind")
                .map(|i| &args[i + 1])
                .unwrap_or_else(|| panic!("{deployment}: no --bind or --metrics-bind"));
            assert_eq!(
                bind,
                &format!("0.0.0.0:{}", port.container_port),
                "{deployment}"
            );
            let security = c
                .security_context
                .as_ref()
                .expect("container securityContext");
            assert_eq!(
                security.read_only_root_filesystem,
                Some(true),
                "{deployment}"
            );
            assert_eq!(
                security.allow_privilege_escalation,
                Some(false),
                "{deployment}"
            );
        }
    }
}

#[test]
fn servers_roll_without_losing_capacity_and_drain_in_the_grace_period() {
    let all = manifests();
    let server = deployment(&all, "cairn-server");
    assert!(replicas(server) >= 2);
    let rolling = server
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref())
        .expect("rolling update");
    assert_eq!(rolling.max_unavailable, Some(IntOrString::Int(0)));
    let pod = pod_spec(server);
    assert_eq!(pod.termination_grace_period_seconds, Some(30));
    let pre_stop = pod.containers[0]
        .lifecycle
        .as_ref()
        .and_then(|l| l.pre_stop.as_ref())
        .and_then(|p| p.sleep.as_ref())
        .expect("preStop sleep");
    // SIGTERM comes after the preStop sleep; then requests in flight get CAIRN_SHUTDOWN_GRACE.
    let drain: i64 = config_map(&all)["CAIRN_SHUTDOWN_GRACE"]
        .parse()
        .expect("seconds");
    assert!(
        pre_stop.seconds + drain <= 30,
        "preStop {} s + drain {drain} s",
        pre_stop.seconds
    );
    assert!(pod.topology_spread_constraints.is_some() || pod.affinity.is_some());
    assert_eq!(replicas(deployment(&all, "cairn-scheduler")), 2);
}

#[test]
fn the_server_autoscales_on_cpu_between_2_and_10() {
    let all = manifests();
    let hpas: Vec<&HorizontalPodAutoscaler> = all
        .iter()
        .filter_map(|m| match &m.object {
            Typed::Hpa(h) if m.file.parent().unwrap().ends_with("base") => Some(&**h),
            _ => None,
        })
        .collect();
    assert_eq!(hpas.len(), 1);
    let spec = hpas[0].spec.as_ref().expect("spec");
    assert_eq!(spec.scale_target_ref.kind, "Deployment");
    assert_eq!(spec.scale_target_ref.name, "cairn-server");
    assert_eq!((spec.min_replicas, spec.max_replicas), (Some(2), 10));
    let metrics = spec.metrics.as_ref().expect("metrics");
    assert_eq!(metrics.len(), 1);
    let resource = metrics[0].resource.as_ref().expect("resource metric");
    assert_eq!(resource.name, "cpu");
    assert_eq!(resource.target.type_, "Utilization");
    assert_eq!(resource.target.average_utilization, Some(70));
}

#[test]
fn selectors_and_scale_targets_name_existing_deployments() {
    let all = manifests();
    let names: BTreeSet<&str> = deployments(&all)
        .into_iter()
        .map(|d| name(&d.metadata))
        .collect();
    let mut checked = 0;
    for m in &all {
        let file = m.file.display();
        match &m.object {
            Typed::Service(s) => {
                let selector = s
                    .spec
                    .as_ref()
                    .and_then(|s| s.selector.as_ref())
                    .expect("selector");
                assert!(
                    selects_a_deployment(&all, selector),
                    "{file}: Service selects nothing"
                );
            }
            Typed::Pdb(p) => {
                let selector = p
                    .spec
                    .as_ref()
                    .and_then(|s| s.selector.as_ref())
                    .and_then(|s| s.match_labels.as_ref())
                    .expect("matchLabels");
                assert!(
                    selects_a_deployment(&all, selector),
                    "{file}: PDB selects nothing"
                );
            }
            Typed::Hpa(h) => {
                let target = &h.spec.as_ref().expect("spec").scale_target_ref.name;
                assert!(
                    names.contains(target.as_str()),
                    "{file}: HPA of unknown {target}"
                );
            }
            Typed::ScaledObject(s) => {
                assert!(
                    names.contains(s.spec.scale_target_ref.name.as_str()),
                    "{file}"
                );
            }
            Typed::Ingress(i) => {
                let services: BTreeSet<String> = all
                    .iter()
                    .filter_map(|m| match &m.object {
                        Typed::Service(s) => s.metadata.name.clone(),
                        _ => None,
                    })
                    .collect();
                for rule in i
                    .spec
                    .as_ref()
                    .and_then(|s| s.rules.as_ref())
                    .expect("rules")
                {
                    for path in &rule.http.as_ref().expect("http").paths {
                        let service = path.backend.service.as_ref().expect("service backend");
                        assert!(services.contains(&service.name), "{file}: {}", service.name);
                    }
                }
            }
            _ => continue,
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} references checked");
    for d in deployments(&all) {
        let labels = d
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_labels.as_ref())
            .expect("selector");
        assert!(labels.iter().all(|(k, v)| pod_labels(d).get(k) == Some(v)));
    }
}

#[test]
fn every_subcommand_and_flag_exists_in_the_binary() {
    let all = manifests();
    let mut roles: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (_, args) in containers(&all) {
        let flags = roles.entry(args[0].as_str()).or_default();
        for flag in args.iter().filter(|a| a.starts_with("--")) {
            flags.insert(flag.split('=').next().unwrap());
        }
    }
    let role_names: Vec<&str> = roles.keys().copied().collect();
    assert_eq!(role_names, ["migrate", "scheduler", "server", "worker"]);
    for (role, flags) in &roles {
        let output = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args([role, "--help"])
            .output()
            .expect("run cairn");
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "cairn {role} --help failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        for flag in flags {
            let found = help.match_indices(flag).any(|(i, _)| {
                !help[i + flag.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
            });
            assert!(found, "cairn {role} has no {flag}:\n{help}");
        }
    }
}

/// Each container's command line, run with the ConfigMap and the example Secret as its
/// environment (minus `REDASH_SECRET_KEY`, with the database and Redis on a closed local port),
/// gets past argument parsing: clap exits 2 on a bad value or a missing argument, while a
/// role that parsed its settings stops at the missing key (or a refused connection) with 1.
#[test]
fn every_role_accepts_the_configured_settings() {
    let all = manifests();
    let data_dir = tempfile::tempdir().expect("temporary directory");
    for (owner, args) in containers(&all) {
        let local: Vec<&str> = args
            .iter()
            .map(|a| {
                if a.starts_with("0.0.0.0:") {
                    "127.0.0.1:0"
                } else {
                    a.as_str()
                }
            })
            .collect();
        let output = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(&local)
            .env_clear()
            .envs(config_map(&all))
            .envs(
                secret_example(&all)
                    .iter()
                    .filter(|(k, _)| *k != "REDASH_SECRET_KEY"),
            )
            .env("REDASH_DATABASE_URL", "postgres://cairn@127.0.0.1:1/cairn")
            .env(
                "REDASH_DATABASE_REPLICA_URL",
                "postgres://cairn@127.0.0.1:1/cairn",
            )
            .env("REDASH_REDIS_URL", "redis://127.0.0.1:1/0")
            .env("CAIRN_DATA_DIR", data_dir.path())
            .output()
            .expect("run cairn");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{owner}: {stderr}");
        assert!(
            stderr.starts_with("error: "),
            "{owner}: one-line error: {stderr}"
        );
    }
}

#[test]
fn worker_autoscalers_cover_every_worker_and_query_known_metrics() {
    let all = manifests();
    let mut scaled = BTreeSet::new();
    for m in &all {
        let Typed::ScaledObject(s) = &m.object else {
            continue;
        };
        let target = deployment(&all, &s.spec.scale_target_ref.name);
        assert_eq!(s.spec.scale_target_ref.kind, "Deployment");
        assert_eq!(s.spec.scale_target_ref.api_version, "apps/v1");
        assert_eq!(
            s.spec.min_replica_count,
            replicas(target),
            "KEDA never shrinks below the base"
        );
        assert!(s.spec.max_replica_count > s.spec.min_replica_count);
        assert!(s.spec.fallback.replicas >= s.spec.min_replica_count);
        assert!(s.spec.fallback.failure_threshold >= 1);
        assert!(
            s.spec
                .advanced
                .horizontal_pod_autoscaler_config
                .behavior
                .scale_down
                .is_some()
        );
        assert_eq!(s.spec.triggers.len(), 1);
        let trigger = &s.spec.triggers[0];
        assert_eq!(trigger.kind, "prometheus");
        assert_eq!(
            trigger.metadata.ignore_null_values, "false",
            "missing metrics use the fallback"
        );
        assert!(trigger.metadata.server_address.starts_with("http"));
        assert!(trigger.metadata.threshold.parse::<f64>().is_ok());
        assert!(trigger.metadata.activation_threshold.parse::<f64>().is_ok());
        let used = metric_names(&trigger.metadata.query);
        assert!(
            used.contains("cairn_queue_depth"),
            "{}",
            trigger.metadata.query
        );
        check_known_metrics(&used, &trigger.metadata.query);
        assert!(s.spec.polling_interval > 0 && s.spec.cooldown_period > 0);
        scaled.insert(name(&s.metadata).to_string());
    }
    let workers: BTreeSet<String> = deployments(&all)
        .into_iter()
        .map(|d| name(&d.metadata).to_string())
        .filter(|n| n.starts_with("cairn-worker-"))
        .collect();
    assert_eq!(scaled, workers);
}

// ---------------------------------------------------------------------------------------------
// Prometheus rules

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleGroup {
    #[serde(rename = "name")]
    _name: String,
    rules: Vec<AlertRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertRule {
    alert: String,
    expr: String,
    #[serde(rename = "for")]
    _for: Option<String>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

/// prometheus-adapter's external rules.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AdapterConfig {
    external_rules: Vec<AdapterRule>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AdapterRule {
    series_query: String,
    #[serde(rename = "resources")]
    _resources: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
    name: AdapterName,
    metrics_query: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdapterName {
    #[serde(rename = "matches")]
    _matches: String,
    #[serde(rename = "as")]
    exposed: String,
}

/// PromQL words that are not metric names when not followed by `(`.
const PROMQL_WORDS: &str = "and or unless bool offset inf nan \
    sum min max avg group stddev stdvar count count_values bottomk topk quantile";

/// PromQL words followed by a list of label names.
const GROUPING_WORDS: &str = "by without on ignoring group_left group_right";

/// The metric names a PromQL expression reads: identifiers outside strings, label matchers
/// (`{...}`), ranges (`[...]`) and grouping label lists, that are neither PromQL words nor
/// function calls.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(&chars, i);
        } else if c == '{' || c == '[' {
            i = skip_block(&chars, i);
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = (i..chars.len()).find(|&j| !chars[j].is_whitespace());
            let call = next.is_some_and(|j| chars[j] == '(');
            let lower = word.to_ascii_lowercase();
            if GROUPING_WORDS.split_whitespace().any(|w| w == lower) {
                // The label list after a grouping word names labels, not metrics.
                if let Some(j) = next.filter(|_| call) {
                    i = skip_block(&chars, j);
                }
            } else if !call && !PROMQL_WORDS.split_whitespace().any(|w| w == lower) {
                names.insert(word);
            }
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The index after the string literal starting at `start`.
fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() && chars[i] != quote {
        i += if chars[i] == '\\' && quote != '`' {
            2
        } else {
            1
        };
    }
    i + 1
}

/// The index after the bracketed block starting at `start`, strings inside included.
fn skip_block(chars: &[char], start: usize) -> usize {
    let mut depth = 0;
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' | '`' => {
                i = skip_string(chars, i);
                continue;
            }
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// Fails unless every name is a Cairn metric (histogram series included) or a cluster metric.
fn check_known_metrics(names: &BTreeSet<String>, expr: &str) {
    for metric in names {
        let histogram = ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|suffix| metric.strip_suffix(suffix))
            .any(|base| CAIRN_HISTOGRAMS.contains(&base));
        assert!(
            histogram
                || CAIRN_METRICS.contains(&metric.as_str())
                || CLUSTER_METRICS.contains(&metric.as_str()),
            "unknown metric {metric} in {expr}"
        );
    }
}

#[test]
fn metric_names_skips_functions_labels_strings_and_grouping() {
    let expr = r#"sum by (queue, le) (rate(a_bucket{route!~"x|\"}|y"}[5m])) / on(pod) group_left b_total > 1 / ignoring (state) group_right (x) f and absent(c) or max(d:e) unless 2e3"#;
    let found: Vec<String> = metric_names(expr).into_iter().collect();
    assert_eq!(found, ["a_bucket", "b_total", "c", "d:e", "f"]);
}

/// The `#` anchors GitHub gives the headings of a Markdown file.
fn heading_anchors(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| {
            l.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// The section anchors of docs/OPERATIONS.md.
fn operations_anchors() -> BTreeSet<String> {
    heading_anchors(&read(&deploy_dir().join("../docs/OPERATIONS.md")))
}

/// Every `#anchor` that follows `prefix` in `text`.
fn links_after<'a>(text: &'a str, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.match_indices(prefix).map(move |(i, _)| {
        let rest = &text[i + prefix.len()..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(rest.len());
        &rest[..end]
    })
}

#[test]
fn every_link_into_the_operations_guide_names_a_section() {
    let anchors = operations_anchors();
    let mut links = 0;
    for file in yaml_files(&deploy_dir()) {
        for anchor in links_after(&read(&file), "docs/OPERATIONS.md#") {
            assert!(
                anchors.contains(anchor),
                "{}: no section #{anchor}",
                file.display()
            );
            links += 1;
        }
    }
    let guide = read(&deploy_dir().join("../docs/OPERATIONS.md"));
    for anchor in links_after(&guide, "](#") {
        assert!(
            anchors.contains(anchor),
            "docs/OPERATIONS.md links to missing #{anchor}"
        );
        links += 1;
    }
    assert!(links >= 20, "only {links} links");
}

#[test]
fn alert_rules_use_contract_metrics_and_point_at_the_runbook() {
    let path = deploy_dir().join("prometheus/alerts.yml");
    let rules: RuleFile = yaml_serde::from_str(&read(&path)).expect("alerts.yml");
    let anchors = operations_anchors();
    let mut alerts = BTreeSet::new();
    for rule in rules.groups.iter().flat_map(|g| &g.rules) {
        assert!(alerts.insert(rule.alert.clone()), "{} twice", rule.alert);
        let names = metric_names(&rule.expr);
        assert!(!names.is_empty(), "{}: reads no metric", rule.alert);
        check_known_metrics(&names, &rule.expr);
        let severity = rule.labels.get("severity").map(String::as_str);
        assert!(
            matches!(severity, Some("warning" | "critical")),
            "{}: severity",
            rule.alert
        );
        assert!(
            rule.annotations
                .get("summary")
                .is_some_and(|s| !s.is_empty()),
            "{}",
            rule.alert
        );
        let runbook = rule.annotations.get("runbook_url").expect("runbook_url");
        let anchor = runbook
            .strip_prefix("docs/OPERATIONS.md#")
            .unwrap_or_else(|| panic!("{}: runbook {runbook}", rule.alert));
        assert!(
            anchors.contains(anchor),
            "{}: no section #{anchor} in docs/OPERATIONS.md",
            rule.alert
        );
    }
    for required in [
        "CairnQueueBacklog",
        "CairnJobFailureRate",
        "CairnSchedulerNoLeader",
        "CairnSchedulerSeveralLeaders",
        "CairnHttpLatencyHigh",
        "CairnHttpErrors",
        "CairnDbPoolSaturated",
        "CairnPodCpuNearLimit",
        "CairnPodMemoryNearLimit",
        "CairnWorkersMissing",
    ] {
        assert!(alerts.contains(required), "missing alert {required}");
    }
}

#[test]
fn every_alert_has_a_unit_test_that_fires_it() {
    let dir = deploy_dir().join("prometheus");
    let rules: RuleFile = yaml_serde::from_str(&read(&dir.join("alerts.yml"))).expect("alerts.yml");
    let alerts: BTreeSet<&str> = rules
        .groups
        .iter()
        .flat_map(|g| &g.rules)
        .map(|r| r.alert.as_str())
        .collect();
    let tests: Value = yaml_serde::from_str(&read(&dir.join("alerts.test.yml"))).expect("tests");
    let fired: BTreeSet<&str> = tests["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_array().expect("alert_rule_test"))
        .filter(|case| case["exp_alerts"].as_array().is_some_and(|a| !a.is_empty()))
        .map(|case| case["alertname"].as_str().expect("alertname"))
        .collect();
    assert_eq!(
        fired, alerts,
        "alerts without a firing unit test, or tests of unknown alerts"
    );
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    let dir = deploy_dir().join("prometheus");
    for args in [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts.test.yml"],
    ] {
        let output = Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect(
                "promtool (Debian package `prometheus`) must be installed: scripts/test.sh does",
            );
        assert!(
            output.status.success(),
            "promtool {}:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn the_adapter_rule_serves_the_metric_the_external_hpas_read() {
    let path = deploy_dir().join("prometheus/adapter-rules.yaml");
    let config: AdapterConfig = yaml_serde::from_str(&read(&path)).expect("adapter-rules.yaml");
    let exposed: BTreeSet<&str> = config
        .external_rules
        .iter()
        .map(|r| r.name.exposed.as_str())
        .collect();
    for rule in &config.external_rules {
        check_known_metrics(&metric_names(&rule.series_query), &rule.series_query);
        let names = metric_names(&rule.metrics_query);
        assert!(
            names.contains("cairn_queue_depth"),
            "{}",
            rule.metrics_query
        );
        check_known_metrics(&names, &rule.metrics_query);
    }
    let all = manifests();
    let mut external = 0;
    for m in &all {
        let Typed::Hpa(h) = &m.object else { continue };
        for metric in h
            .spec
            .as_ref()
            .and_then(|s| s.metrics.as_ref())
            .expect("metrics")
        {
            let Some(source) = &metric.external else {
                continue;
            };
            external += 1;
            assert!(
                exposed.contains(source.metric.name.as_str()),
                "{}",
                source.metric.name
            );
            let queues = source
                .metric
                .selector
                .as_ref()
                .and_then(|s| s.match_expressions.as_ref())
                .expect("queue selector");
            for q in queues.iter().flat_map(|e| e.values.iter().flatten()) {
                assert!(QUEUES.contains(&q.as_str()), "unknown queue {q}");
            }
        }
    }
    assert_eq!(external, 3, "one external-metric HPA per worker Deployment");
}

/// Settings the manifests may set: the HA contract's and README's environment variables.
const KNOWN_SETTINGS: &[&str] = &[
    "REDASH_DATABASE_URL",
    "REDASH_DATABASE_REPLICA_URL",
    "REDASH_REDIS_URL",
    "REDASH_SECRET_KEY",
    "REDASH_COOKIE_SECRET",
    "REDASH_ADHOC_QUERY_TIME_LIMIT",
    "REDASH_SCHEDULED_QUERY_TIME_LIMIT",
    "CAIRN_BASE_URL",
    "CAIRN_DATA_DIR",
    "CAIRN_WORKER_HEARTBEAT_TIMEOUT",
    "CAIRN_SCHEDULER_LEASE_TTL",
    "CAIRN_DOWNLOAD_RATE_AFTER",
    "CAIRN_DOWNLOAD_RATE_LIMIT",
    "CAIRN_MAX_CONCURRENT_DOWNLOADS",
    "CAIRN_MAX_DOWNLOAD_BYTES",
    "CAIRN_SHUTDOWN_GRACE",
    "CAIRN_LOG_FORMAT",
    "RUST_LOG",
];

#[test]
fn configuration_sets_only_known_settings_and_secrets_are_placeholders() {
    let all = manifests();
    let mut config_maps = 0;
    let mut secrets = 0;
    for m in &all {
        match &m.object {
            Typed::ConfigMap(c) => {
                config_maps += 1;
                let data = c.data.as_ref().expect("data");
                for key in data.keys() {
                    assert!(
                        KNOWN_SETTINGS.contains(&key.as_str()),
                        "unknown setting {key}"
                    );
                }
                assert_eq!(
                    data.get("CAIRN_LOG_FORMAT").map(String::as_str),
                    Some("json")
                );
            }
            Typed::Secret(s) => {
                secrets += 1;
                assert!(
                    m.file.ends_with("secret.example.yaml"),
                    "real secrets stay out of git"
                );
                let data = s.string_data.as_ref().expect("stringData");
                for key in [
                    "REDASH_DATABASE_URL",
                    "REDASH_REDIS_URL",
                    "REDASH_SECRET_KEY",
                    "REDASH_COOKIE_SECRET",
                ] {
                    assert!(data.contains_key(key), "the example lacks {key}");
                }
                for (key, value) in data {
                    assert!(
                        KNOWN_SETTINGS.contains(&key.as_str()),
                        "unknown setting {key}"
                    );
                    assert!(
                        value.contains("CHANGE-ME"),
                        "{key} is not an obvious placeholder"
                    );
                }
            }
            _ => {}
        }
    }
    assert_eq!((config_maps, secrets), (1, 1));
    for d in deployments(&all) {
        for c in &pod_spec(d).containers {
            let sources: Vec<&str> = c
                .env_from
                .iter()
                .flatten()
                .filter_map(|e| {
                    e.config_map_ref
                        .as_ref()
                        .map(|r| r.name.as_str())
                        .or(e.secret_ref.as_ref().map(|r| r.name.as_str()))
                })
                .collect();
            assert_eq!(
                sources,
                ["cairn-config", "cairn-secrets"],
                "{}",
                name(&d.metadata)
            );
        }
    }
}
