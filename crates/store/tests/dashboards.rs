use cairn_domain::model::FavoriteKind;
use cairn_store::{
    DashboardUpdate, Drafts, ListFilter, NewDashboard, NewWidget, Scope, StoreError, WidgetUpdate,
};

use crate::harness::{TestDb, store_test};
use crate::queries::new_query;

async fn dashboards_slugs_updates_and_lists(db: TestDb) {
    let s = &db.store;
    let alice = db.user("alice").await;
    let bob = db.user("bob").await;
    let create = |name: &str, user: i64| {
        let new = NewDashboard {
            name: name.into(),
            user_id: user,
        };
        async move { s.create_dashboard(&new).await.unwrap() }
    };
    let d1 = create("Sales Overview", alice.id).await;
    let d2 = create("Sales  overview", alice.id).await;
    let d3 = create("sales overview!", bob.id).await;
    assert_eq!(d1.slug, "sales-overview");
    assert_eq!(d2.slug, "sales-overview_1");
    assert_eq!(d3.slug, "sales-overview-");
    let d4 = create("Sales Overview", bob.id).await;
    assert_eq!(d4.slug, "sales-overview_2");
    assert!(d1.is_draft && d1.version == 1);
    assert_eq!(d1.layout, serde_json::json!([]));

    assert_eq!(
        s.dashboard_by_slug("sales-overview_1").await.unwrap().id,
        d2.id
    );
    assert_eq!(
        s.dashboard_by_id_or_slug(&d3.id.to_string())
            .await
            .unwrap()
            .id,
        d3.id
    );
    assert_eq!(
        s.dashboard_by_id_or_slug("sales-overview")
            .await
            .unwrap()
            .id,
        d1.id
    );
    assert!(matches!(
        s.dashboard_by_id_or_slug("nope").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.create_dashboard(&NewDashboard {
            name: "  ".into(),
            user_id: alice.id
        })
        .await,
        Err(StoreError::Invalid(_))
    ));

    let updated = s
        .update_dashboard(
            d1.id,
            &DashboardUpdate {
                name: Some("Renamed".into()),
                tags: Some(vec!["exec".into()]),
                is_draft: Some(false),
                dashboard_filters_enabled: Some(true),
                version: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.slug, "sales-overview", "slugs never change");
    assert!(updated.dashboard_filters_enabled && !updated.is_draft);
    assert!(matches!(
        s.update_dashboard(
            d1.id,
            &DashboardUpdate {
                name: Some("stale".into()),
                version: Some(1),
                ..Default::default()
            }
        )
        .await,
        Err(StoreError::Conflict(2))
    ));
    assert_eq!(
        s.dashboard_tags().await.unwrap(),
        vec![("exec".to_string(), 1)]
    );

    let all = s.list_dashboards(&ListFilter::default()).await.unwrap();
    assert_eq!(all.count, 4);
    let searched = s
        .list_dashboards(&ListFilter {
            q: Some("RENAMED".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(searched.items.len(), 1);
    assert_eq!(searched.items[0].id, d1.id);
    let tagged = s
        .list_dashboards(&ListFilter {
            tags: vec!["exec".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(tagged.count, 1);
    let for_alice = s
        .list_dashboards(&ListFilter {
            drafts: Drafts::PublishedOrOwnedBy(alice.id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        for_alice.count, 2,
        "her draft and her published one, not bob's drafts"
    );
    s.add_favorite(bob.id, FavoriteKind::Dashboard, d2.id)
        .await
        .unwrap();
    let favs = s
        .list_dashboards(&ListFilter {
            scope: Scope::FavoritesOf(bob.id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(favs.items[0].id, d2.id);

    let archived = s.archive_dashboard(d4.id).await.unwrap();
    assert!(archived.is_archived);
    assert_eq!(
        s.list_dashboards(&ListFilter::default())
            .await
            .unwrap()
            .count,
        3
    );
    let archive = s
        .list_dashboards(&ListFilter {
            scope: Scope::Archived,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(archive.items[0].id, d4.id);
}
store_test!(dashboards_slugs_updates_and_lists);

async fn sharing_and_widgets(db: TestDb) {
    let s = &db.store;
    let user = db.user("alice").await;
    let ds = db.data_source("Demo").await;
    let q = s
        .create_query(&new_query("Q", "SELECT 1", ds.id, user.id))
        .await
        .unwrap();
    let vis = s.visualizations_for_query(q.id).await.unwrap().remove(0);
    let dash = s
        .create_dashboard(&NewDashboard {
            name: "Public".into(),
            user_id: user.id,
        })
        .await
        .unwrap();

    assert!(s.dashboard_share(dash.id).await.unwrap().is_none());
    let share = s.share_dashboard(dash.id, user.id).await.unwrap();
    assert!(share.active);
    assert_eq!(share.dashboard_id, dash.id);
    assert_eq!(
        s.share_dashboard(dash.id, user.id).await.unwrap(),
        share,
        "idempotent"
    );
    assert_eq!(
        s.dashboard_by_public_token(&share.api_key)
            .await
            .unwrap()
            .id,
        dash.id
    );
    s.unshare_dashboard(dash.id).await.unwrap();
    assert!(matches!(
        s.dashboard_by_public_token(&share.api_key).await,
        Err(StoreError::NotFound(_))
    ));
    let again = s.share_dashboard(dash.id, user.id).await.unwrap();
    assert_ne!(again.api_key, share.api_key);
    assert!(matches!(
        s.share_dashboard(9999, user.id).await,
        Err(StoreError::NotFound(_))
    ));

    let chart = s
        .create_widget(&NewWidget {
            dashboard_id: dash.id,
            visualization_id: Some(vis.id),
            text: String::new(),
            width: 1,
            options: serde_json::json!({"position": {"col": 0, "row": 0, "sizeX": 3, "sizeY": 8}}),
        })
        .await
        .unwrap();
    let text = s
        .create_widget(&NewWidget {
            dashboard_id: dash.id,
            visualization_id: None,
            text: "# Notes".into(),
            width: 2,
            options: serde_json::Value::Null,
        })
        .await
        .unwrap();
    assert_eq!(text.options, serde_json::json!({}));
    assert!(matches!(
        s.create_widget(&NewWidget {
            dashboard_id: 9999,
            visualization_id: None,
            text: String::new(),
            width: 1,
            options: serde_json::json!({}),
        })
        .await,
        Err(StoreError::Invalid(_))
    ));
    let moved = s
        .update_widget(
            chart.id,
            &WidgetUpdate {
                options: Some(serde_json::json!({"position": {"col": 3}})),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.options["position"]["col"], 3);
    assert_eq!(moved.width, 1);
    let widgets = s.widgets_for_dashboard(dash.id).await.unwrap();
    assert_eq!(
        widgets.iter().map(|w| w.id).collect::<Vec<_>>(),
        vec![chart.id, text.id]
    );
    assert_eq!(s.status_counts(0).await.unwrap().widgets, 2);
    s.delete_widget(text.id).await.unwrap();
    assert!(matches!(
        s.delete_widget(text.id).await,
        Err(StoreError::NotFound(_))
    ));

    // Archiving revokes the public link.
    s.archive_dashboard(dash.id).await.unwrap();
    assert!(s.dashboard_by_public_token(&again.api_key).await.is_err());
}
store_test!(sharing_and_widgets);
