//! Half-migrated and uncovered slots, repaired by `fix`.

use crate::support::{cluster, dbsize_sum};
use cairn_slots::client::NodeClient;
use cairn_slots::cluster::Cluster;
use cairn_slots::fix::{FixAction, diagnose, repair};
use cairn_slots::migrate::{ApplyOptions, Silent};
use cairn_slots::slot::SlotKeys;
use cairn_testkit::redis::Flavor;
use std::time::Duration;

async fn cmd(node: &NodeClient, args: &[&str]) {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    let _: redis::Value = node.query(&c).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fix_repairs_every_half_migration_case_and_uncovered_slots() {
    let c = cluster(Flavor::Redis, 3, 0);
    let found = Cluster::discover(&c.seed()).await.unwrap();
    let m: Vec<String> = found.masters().map(|n| n.id().to_string()).collect();
    let node = |i: usize| found.client(&m[i]).unwrap();
    let tags = SlotKeys::new();
    // Slots owned by master 0 (0..5460) and master 1 (5461..10922).
    let (a, b, cc, e) = (10u16, 20u16, 30u16, 40u16);
    let d = 6000u16;
    for (slot, owner) in [(a, 0), (b, 0), (d, 1)] {
        for i in 0..20 {
            cmd(
                node(owner),
                &["SET", &tags.key(slot, &format!(":{i}")), "v"],
            )
            .await;
        }
    }
    let (s_a, s_b, s_c, s_d, s_e) = (
        a.to_string(),
        b.to_string(),
        cc.to_string(),
        d.to_string(),
        e.to_string(),
    );
    // a: migrating 0 -> 1 and importing on 1, 5 keys already moved.
    cmd(node(1), &["CLUSTER", "SETSLOT", &s_a, "IMPORTING", &m[0]]).await;
    cmd(node(0), &["CLUSTER", "SETSLOT", &s_a, "MIGRATING", &m[1]]).await;
    let port1 = node(1).addr().rsplit_once(':').unwrap().1.to_string();
    for i in 0..5 {
        cmd(
            node(0),
            &[
                "MIGRATE",
                "127.0.0.1",
                &port1,
                &tags.key(a, &format!(":{i}")),
                "0",
                "5000",
            ],
        )
        .await;
    }
    // b: importing only on 2, which holds one key the owner does not have.
    cmd(node(2), &["CLUSTER", "SETSLOT", &s_b, "IMPORTING", &m[0]]).await;
    let mut p = redis::pipe();
    p.cmd("ASKING")
        .ignore()
        .cmd("SET")
        .arg(tags.key(b, ":stray"))
        .arg("s");
    let _: Vec<redis::Value> = p.query_async(&mut node(2).connection()).await.unwrap();
    // c: migrating only, nobody imports, no keys anywhere else.
    cmd(node(0), &["CLUSTER", "SETSLOT", &s_c, "MIGRATING", &m[2]]).await;
    // f: keys on master 0 (10) and master 2 (3, written while importing), then ownerless.
    let f = 50u16;
    let s_f = f.to_string();
    for i in 0..10 {
        cmd(node(0), &["SET", &tags.key(f, &format!(":{i}")), "v"]).await;
    }
    cmd(node(2), &["CLUSTER", "SETSLOT", &s_f, "IMPORTING", &m[0]]).await;
    for i in 10..13 {
        let mut p = redis::pipe();
        p.cmd("ASKING")
            .ignore()
            .cmd("SET")
            .arg(tags.key(f, &format!(":{i}")))
            .arg("v");
        let _: Vec<redis::Value> = p.query_async(&mut node(2).connection()).await.unwrap();
    }
    cmd(node(2), &["CLUSTER", "SETSLOT", &s_f, "STABLE"]).await;
    // d, e and f: ownerless (DELSLOTS everywhere); d keeps its keys on master 1.
    for i in 0..3 {
        cmd(node(i), &["CLUSTER", "DELSLOTS", &s_d, &s_e, &s_f]).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let keys_before = dbsize_sum(&c);
    assert_eq!(keys_before, 74);

    let broken = Cluster::discover(&c.seed()).await.unwrap();
    assert!(broken.require_healthy().await.is_err());
    let actions = diagnose(&broken).await.unwrap();
    let want = [
        FixAction::FinishMigration {
            slot: a,
            from: m[0].clone(),
            to: m[1].clone(),
        },
        FixAction::CloseImporting {
            slot: b,
            node: m[2].clone(),
            owner: m[0].clone(),
        },
        FixAction::CloseMigrating {
            slot: cc,
            node: m[0].clone(),
        },
        FixAction::AssignOwnerless {
            slot: d,
            to: m[1].clone(),
            gather: vec![],
        },
        FixAction::AssignOwnerless {
            slot: f,
            to: m[0].clone(),
            gather: vec![m[2].clone()],
        },
    ];
    for w in &want {
        assert!(actions.contains(w), "missing {w}: {actions:?}");
    }
    assert!(actions.iter().any(|x| matches!(x, FixAction::AssignOwnerless { slot, gather, .. } if *slot == e && gather.is_empty())), "{actions:?}");
    assert_eq!(actions.len(), 6, "{actions:?}");
    // Diagnosis changed nothing.
    assert!(
        Cluster::discover(&c.seed())
            .await
            .unwrap()
            .require_healthy()
            .await
            .is_err()
    );

    let dir = tempfile::tempdir().unwrap();
    let opts = ApplyOptions::new(dir.path().join("journal"));
    repair(&broken, &actions, &opts, &Silent).await.unwrap();
    let fixed = Cluster::discover(&c.seed()).await.unwrap();
    fixed.require_healthy().await.unwrap();
    assert_eq!(fixed.owner(a), Some(m[1].as_str()));
    assert_eq!(fixed.owner(b), Some(m[0].as_str()));
    assert_eq!(fixed.owner(cc), Some(m[0].as_str()));
    assert_eq!(fixed.owner(d), Some(m[1].as_str()));
    assert!(fixed.owner(e).is_some());
    assert_eq!(dbsize_sum(&c), keys_before, "no key lost or duplicated");
    let count = |n: &NodeClient, s: u16| {
        let n = n.clone();
        async move { cairn_slots::stats::count_keys_in_slot(&n, s).await.unwrap() }
    };
    assert_eq!(count(node(1), a).await, 20);
    assert_eq!(count(node(0), b).await, 21);
    assert_eq!(count(node(2), b).await, 0);
    assert_eq!(fixed.owner(f), Some(m[0].as_str()));
    assert_eq!(count(node(0), f).await, 13);
    assert_eq!(count(node(2), f).await, 0);
    assert!(diagnose(&fixed).await.unwrap().is_empty());
}
