use cairn_domain::model::Schedule;
use cairn_store::{NewQuery, QueryUpdate, StoreError};

use crate::harness::{TestDb, store_test};

pub fn new_query(name: &str, text: &str, ds: i64, user: i64) -> NewQuery {
    NewQuery {
        name: name.into(),
        description: None,
        query: text.into(),
        query_hash: format!("hash-of-{text}"),
        data_source_id: ds,
        schedule: None,
        options: serde_json::json!({"parameters": []}),
        tags: vec![],
        user_id: user,
    }
}

async fn queries_crud_and_version_conflict(db: TestDb) {
    let s = &db.store;
    let user = db.user("alice").await;
    let ds = db.data_source("Demo").await;
    let mut new = new_query("Sales", "SELECT 1", ds.id, user.id);
    new.tags = vec!["finance".into(), "finance".into(), "daily".into()];
    let q = s.create_query(&new).await.unwrap();
    assert!(q.is_draft && !q.is_archived);
    assert_eq!(q.version, 1);
    assert_eq!(q.tags, vec!["finance".to_string(), "daily".to_string()]);
    assert_eq!(q.api_key.len(), 40);
    assert_eq!(s.query(q.id).await.unwrap(), q);
    assert_eq!(s.query_by_api_key(&q.api_key).await.unwrap().id, q.id);

    let bad = s
        .create_query(&new_query("X", "SELECT 1", 999, user.id))
        .await;
    assert!(matches!(bad, Err(StoreError::Invalid(_))), "{bad:?}");

    let schedule = Schedule {
        interval: Some(3600),
        ..Default::default()
    };
    let updated = s
        .update_query(
            q.id,
            &QueryUpdate {
                name: Some("Sales v2".into()),
                description: Some(Some("about sales".into())),
                query: Some(("SELECT 2".into(), "h2".into())),
                schedule: Some(Some(schedule.clone())),
                is_draft: Some(false),
                version: Some(1),
                ..Default::default()
            },
            user.id,
        )
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.name, "Sales v2");
    assert_eq!(updated.query_hash, "h2");
    assert_eq!(updated.schedule, Some(schedule));
    assert!(!updated.is_draft);
    assert_eq!(updated.last_modified_by_id, Some(user.id));
    assert!(updated.updated_at >= q.updated_at);

    let stale = s
        .update_query(
            q.id,
            &QueryUpdate {
                name: Some("lost update".into()),
                version: Some(1),
                ..Default::default()
            },
            user.id,
        )
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict(2))), "{stale:?}");
    assert_eq!(s.query(q.id).await.unwrap().name, "Sales v2");

    let cleared = s
        .update_query(
            q.id,
            &QueryUpdate {
                description: Some(None),
                schedule: Some(None),
                ..Default::default()
            },
            user.id,
        )
        .await
        .unwrap();
    assert_eq!(cleared.description, None);
    assert_eq!(cleared.schedule, None);
    assert_eq!(cleared.version, 3);

    assert!(matches!(
        s.update_query(9999, &QueryUpdate::default(), user.id).await,
        Err(StoreError::NotFound(_))
    ));

    let rekeyed = s.regenerate_query_api_key(q.id).await.unwrap();
    assert_ne!(rekeyed.api_key, q.api_key);
}
store_test!(queries_crud_and_version_conflict);

async fn search_tags_scopes_and_paging(db: TestDb) {
    use cairn_domain::model::FavoriteKind;
    use cairn_store::{Drafts, ListFilter, Order, Paging, Scope};
    let s = &db.store;
    let alice = db.user("alice").await;
    let bob = db.user("bob").await;
    let ds = db.data_source("Demo").await;
    let mut ids = Vec::new();
    for i in 0..30 {
        let owner = if i % 3 == 0 { bob.id } else { alice.id };
        let mut new = new_query(
            &format!("Report {i:02}"),
            &format!("SELECT {i}"),
            ds.id,
            owner,
        );
        if i % 5 == 0 {
            new.tags = vec!["finance".into(), "weekly".into()];
        } else if i % 2 == 0 {
            new.tags = vec!["finance".into()];
        }
        if i == 7 {
            new.description = Some("The Revenue_Total per region".into());
        }
        ids.push(s.create_query(&new).await.unwrap().id);
    }

    let all = s.list_queries(&ListFilter::default()).await.unwrap();
    assert_eq!(all.count, 30);
    assert_eq!(all.items.len(), 25);
    assert_eq!(all.items[0].id, ids[29], "newest first by default");

    let page2 = s
        .list_queries(&ListFilter {
            paging: Paging::new(2, 25).unwrap(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page2.items.len(), 5);
    assert_eq!(page2.count, 30);

    let by_name = s
        .list_queries(&ListFilter {
            order: Order::parse("name").unwrap(),
            paging: Paging::new(1, 3).unwrap(),
            ..Default::default()
        })
        .await
        .unwrap();
    let names: Vec<_> = by_name.items.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(names, ["Report 00", "Report 01", "Report 02"]);

    // Case-insensitive search in name, description and text; `_` is literal, not a wildcard.
    let hits = |q: &str| {
        let q = q.to_string();
        async move {
            s.list_queries(&ListFilter {
                q: Some(q),
                ..Default::default()
            })
            .await
            .unwrap()
        }
    };
    assert_eq!(hits("report 1").await.count, 10);
    assert_eq!(hits("REVENUE_total").await.items[0].id, ids[7]);
    assert_eq!(hits("revenue_").await.count, 1);
    assert_eq!(hits("revenueXtotal").await.count, 0);
    assert_eq!(hits("select 29").await.items[0].id, ids[29]);
    assert_eq!(hits("   ").await.count, 30);

    let tagged = s
        .list_queries(&ListFilter {
            tags: vec!["finance".into(), "weekly".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(tagged.count, 6, "0,5,...,25 carry both tags");
    let finance = s
        .list_queries(&ListFilter {
            tags: vec!["finance".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(finance.count, 18);
    let tags = s.query_tags().await.unwrap();
    assert_eq!(
        tags,
        vec![("finance".to_string(), 18), ("weekly".to_string(), 6)]
    );

    let mine = s
        .list_queries(&ListFilter {
            scope: Scope::OwnedBy(bob.id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(mine.count, 10);
    assert!(mine.items.iter().all(|q| q.user_id == bob.id));

    s.add_favorite(alice.id, FavoriteKind::Query, ids[3])
        .await
        .unwrap();
    s.add_favorite(alice.id, FavoriteKind::Query, ids[3])
        .await
        .unwrap();
    s.add_favorite(alice.id, FavoriteKind::Query, ids[4])
        .await
        .unwrap();
    assert!(matches!(
        s.add_favorite(alice.id, FavoriteKind::Query, 99999).await,
        Err(StoreError::NotFound(_))
    ));
    let favs = s
        .list_queries(&ListFilter {
            scope: Scope::FavoritesOf(alice.id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(favs.count, 2);
    assert!(
        s.is_favorite(alice.id, FavoriteKind::Query, ids[3])
            .await
            .unwrap()
    );
    assert!(
        !s.is_favorite(bob.id, FavoriteKind::Query, ids[3])
            .await
            .unwrap()
    );
    assert_eq!(
        s.favorite_ids(alice.id, FavoriteKind::Query).await.unwrap(),
        vec![ids[3], ids[4]]
    );
    s.remove_favorite(alice.id, FavoriteKind::Query, ids[4])
        .await
        .unwrap();
    assert_eq!(
        s.favorite_ids(alice.id, FavoriteKind::Query).await.unwrap(),
        vec![ids[3]]
    );

    s.archive_query(ids[0], alice.id).await.unwrap();
    let archived = s
        .list_queries(&ListFilter {
            scope: Scope::Archived,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(archived.count, 1);
    assert_eq!(archived.items[0].id, ids[0]);
    assert_eq!(
        s.list_queries(&ListFilter::default()).await.unwrap().count,
        29
    );
    assert_eq!(
        s.query_tags().await.unwrap()[0],
        ("finance".to_string(), 17)
    );

    // Drafts of others are hidden when asked; all new queries are drafts.
    let published = s
        .update_query(
            ids[1],
            &QueryUpdate {
                is_draft: Some(false),
                ..Default::default()
            },
            alice.id,
        )
        .await
        .unwrap();
    let for_bob = s
        .list_queries(&ListFilter {
            drafts: Drafts::PublishedOrOwnedBy(bob.id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(for_bob.count, 10, "bob's 9 live drafts plus one published");
    assert!(for_bob.items.iter().any(|q| q.id == published.id));

    let recent = s.recent_queries(alice.id, 3).await.unwrap();
    assert_eq!(recent.len(), 3);
    assert_eq!(recent[0].id, ids[1], "the last one alice changed");
}
store_test!(search_tags_scopes_and_paging);

async fn archive_fork_and_visualizations(db: TestDb) {
    use cairn_store::{NewDashboard, NewVisualization, NewWidget, VisualizationUpdate};
    let s = &db.store;
    let user = db.user("alice").await;
    let ds = db.data_source("Demo").await;
    let mut new = new_query("Sales", "SELECT 1", ds.id, user.id);
    new.tags = vec!["t".into()];
    new.schedule = Some(Schedule {
        interval: Some(60),
        ..Default::default()
    });
    let q = s.create_query(&new).await.unwrap();
    let default_vis = s.visualizations_for_query(q.id).await.unwrap();
    assert_eq!(default_vis.len(), 1);
    assert_eq!(default_vis[0].kind, "TABLE");

    let chart = s
        .create_visualization(&NewVisualization {
            query_id: q.id,
            kind: "CHART".into(),
            name: "Chart".into(),
            description: None,
            options: serde_json::json!({"series": 1}),
        })
        .await
        .unwrap();
    let chart = s
        .update_visualization(
            chart.id,
            &VisualizationUpdate {
                name: Some("Bar chart".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(chart.name, "Bar chart");
    assert_eq!(chart.options["series"], 1);
    assert!(matches!(
        s.create_visualization(&NewVisualization {
            query_id: 9999,
            kind: "CHART".into(),
            name: "x".into(),
            description: None,
            options: serde_json::Value::Null,
        })
        .await,
        Err(StoreError::Invalid(_))
    ));

    let fork = s.fork_query(q.id, user.id).await.unwrap();
    assert_eq!(fork.name, format!("Copy of (#{}) Sales", q.id));
    assert_eq!(fork.query, q.query);
    assert_eq!(fork.tags, q.tags);
    assert!(fork.is_draft && fork.schedule.is_none());
    let fork_vis = s.visualizations_for_query(fork.id).await.unwrap();
    let kinds: Vec<_> = fork_vis.iter().map(|v| v.kind.as_str()).collect();
    assert_eq!(kinds, ["TABLE", "CHART"]);
    assert_eq!(fork_vis[1].name, "Bar chart");

    let dash = s
        .create_dashboard(&NewDashboard {
            name: "D".into(),
            user_id: user.id,
        })
        .await
        .unwrap();
    let widget = s
        .create_widget(&NewWidget {
            dashboard_id: dash.id,
            visualization_id: Some(chart.id),
            text: String::new(),
            width: 1,
            options: serde_json::json!({}),
        })
        .await
        .unwrap();
    let archived = s.archive_query(q.id, user.id).await.unwrap();
    assert!(archived.is_archived);
    assert!(archived.schedule.is_none());
    assert!(matches!(
        s.widget(widget.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(s.scheduled_queries().await.unwrap().is_empty());

    s.delete_visualization(chart.id).await.unwrap();
    assert!(matches!(
        s.visualization(chart.id).await,
        Err(StoreError::NotFound(_))
    ));
}
store_test!(archive_fork_and_visualizations);

async fn schedules_for_the_scheduler(db: TestDb) {
    let s = &db.store;
    let user = db.user("alice").await;
    let ds = db.data_source("Demo").await;
    let mut new = new_query("Hourly", "SELECT 1", ds.id, user.id);
    new.schedule = Some(Schedule {
        interval: Some(3600),
        ..Default::default()
    });
    let q = s.create_query(&new).await.unwrap();
    s.create_query(&new_query("Unscheduled", "SELECT 2", ds.id, user.id))
        .await
        .unwrap();

    let due = s.scheduled_queries().await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].query.id, q.id);
    assert_eq!(due[0].latest_retrieved_at, None);
    assert!(!due[0].data_source_paused);

    assert_eq!(s.record_schedule_failure(q.id).await.unwrap(), 1);
    assert_eq!(s.record_schedule_failure(q.id).await.unwrap(), 2);
    assert_eq!(s.query(q.id).await.unwrap().schedule_failures, 2);
    s.reset_schedule_failures(q.id).await.unwrap();
    assert_eq!(s.query(q.id).await.unwrap().schedule_failures, 0);

    s.set_data_source_paused(ds.id, Some("")).await.unwrap();
    assert!(s.scheduled_queries().await.unwrap()[0].data_source_paused);

    s.clear_schedule(q.id).await.unwrap();
    assert!(s.scheduled_queries().await.unwrap().is_empty());
    assert_eq!(s.query(q.id).await.unwrap().version, 1);
    assert!(matches!(
        s.record_schedule_failure(9999).await,
        Err(StoreError::NotFound(_))
    ));
}
store_test!(schedules_for_the_scheduler);
