//! Snapshot and plan files: round trips, and a clear error for anything foreign or broken.

use super::{small_synthetic, uniform};
use crate::{FormatError, Mode, Plan, Policy, Snapshot, plan};

#[test]
fn snapshot_round_trips_through_json() {
    let snap = small_synthetic(4, 3, 2.0);
    let text = snap.to_json();
    assert!(text.contains("\"format\": \"cairn.slots.snapshot/1\""));
    let back = Snapshot::from_json(&text).expect("reads back");
    assert_eq!(back, snap);
    assert_eq!(back.fingerprint(), snap.fingerprint());
}

#[test]
fn snapshot_json_lists_ranges_and_only_loaded_slots() {
    let mut snap = uniform(&[1.0, 1.0]);
    for slot in 100..16384u16 {
        *snap.slot_load.get_mut(slot).expect("in range") = Default::default();
    }
    let value: serde_json::Value = serde_json::from_str(&snap.to_json()).expect("json");
    assert_eq!(value["slots"].as_array().expect("ranges").len(), 2);
    assert_eq!(value["slots"][1]["start"], 8192);
    let loads = value["slot_load"].as_array().expect("loads");
    assert_eq!(loads.len(), 100);
    assert_eq!(loads[5]["slot"], 5);
    assert_eq!(loads[5]["reads_per_sec"], 1.0);
}

#[test]
fn missing_load_fields_read_as_zero() {
    let text = r#"{"format":"cairn.slots.snapshot/1","taken_at_ms":1,"window_ms":0,
        "nodes":[{"id":"a","addr":"h:1","role":"master"}],
        "slots":[{"start":0,"end":16383,"node":"a"}],
        "slot_load":[{"slot":7,"keys":3}]}"#;
    let snap = Snapshot::from_json(text).expect("reads");
    let l = snap.slot_load.get(7).expect("in range");
    assert_eq!((l.keys, l.reads_per_sec), (3, 0.0));
    assert_eq!(snap.nodes[0].capacity.weight, 1.0);
}

#[test]
fn a_plan_is_not_a_snapshot_and_a_snapshot_is_not_a_plan() {
    let snap = uniform(&[1.0, 2.0]);
    let p = plan(&snap, &Policy::with_mode(Mode::Count)).expect("plans");
    let err = Snapshot::from_json(&p.to_json()).unwrap_err();
    assert!(matches!(&err, FormatError::Foreign { found, .. } if found == "cairn.slots.plan/1"));
    assert_eq!(
        err.to_string(),
        "foreign snapshot format \"cairn.slots.plan/1\": this build reads \"cairn.slots.snapshot/1\""
    );
    let err = Plan::from_json(&snap.to_json()).unwrap_err();
    assert!(
        matches!(&err, FormatError::Foreign { found, .. } if found == "cairn.slots.snapshot/1")
    );
}

#[test]
fn a_newer_version_is_refused() {
    let text = uniform(&[1.0])
        .to_json()
        .replace("snapshot/1", "snapshot/2");
    let err = Snapshot::from_json(&text).unwrap_err();
    assert!(
        matches!(&err, FormatError::Foreign { found, .. } if found == "cairn.slots.snapshot/2")
    );
}

#[test]
fn json_without_a_format_is_not_a_cairn_file() {
    for text in [r#"{"nodes": []}"#, "[1, 2, 3]", r#"{"format": 7}"#] {
        let err = Snapshot::from_json(text).unwrap_err();
        assert!(
            matches!(
                err,
                FormatError::MissingFormat { .. } | FormatError::Foreign { .. }
            ),
            "{text}: {err}"
        );
    }
    let err = Snapshot::from_json(r#"{"nodes": []}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "not a cairn snapshot file: no \"format\" field (expected \"cairn.slots.snapshot/1\")"
    );
}

#[test]
fn broken_json_is_reported_with_its_position() {
    let err =
        Snapshot::from_json("{\"format\": \"cairn.slots.snapshot/1\",\n \"nodes\": [").unwrap_err();
    assert!(matches!(
        err,
        FormatError::Malformed {
            kind: "snapshot",
            ..
        }
    ));
    let msg = err.to_string();
    assert!(msg.starts_with("malformed snapshot json: "), "{msg}");
    assert!(msg.contains("line 2"), "{msg}");
}

#[test]
fn a_wrong_shape_names_the_field() {
    let text = r#"{"format":"cairn.slots.snapshot/1","taken_at_ms":"yesterday","window_ms":0,
        "nodes":[],"slots":[]}"#;
    let msg = Snapshot::from_json(text).unwrap_err().to_string();
    assert!(
        msg.starts_with("malformed snapshot json: invalid type"),
        "{msg}"
    );
}

#[test]
fn inconsistent_snapshots_name_the_problem() {
    let base = uniform(&[1.0, 1.0]).to_json();
    let cases = [
        (
            base.replace("\"node\": \"n1\"", "\"node\": \"ghost\""),
            "owned by ghost, not a master",
        ),
        (
            base.replace("\"id\": \"n1\"", "\"id\": \"n0\""),
            "node id n0 is listed twice",
        ),
        (
            base.replacen("\"reads_per_sec\": 1.0", "\"reads_per_sec\": -1.0", 1),
            "slot 0: reads_per_sec = -1",
        ),
        (
            base.replacen("\"slot\": 1,", "\"slot\": 16384,", 1),
            "out of range 0..=16383",
        ),
        (
            base.replacen("\"slot\": 1,", "\"slot\": 0,", 1),
            "slot_load lists slot 0 twice",
        ),
        (
            base.replace("\"end\": 8191", "\"end\": 8192"),
            "slot 8192 is listed twice",
        ),
    ];
    for (text, expected) in cases {
        let msg = Snapshot::from_json(&text).unwrap_err().to_string();
        assert!(msg.contains(expected), "expected {expected:?} in {msg:?}");
    }
}

#[test]
fn a_plan_moving_a_slot_twice_is_refused() {
    let snap = uniform(&[1.0, 3.0]);
    let mut p = plan(&snap, &Policy::with_mode(Mode::Count)).expect("plans");
    assert!(p.moves.len() > 2);
    p.moves[1].slot = p.moves[0].slot;
    let err = Plan::from_json(&p.to_json()).unwrap_err();
    assert!(err.to_string().contains("is moved twice"), "{err}");
}
