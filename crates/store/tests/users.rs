use cairn_store::{NewUser, Paging, StoreError, UserUpdate};

use crate::harness::{TestDb, store_test};

async fn users_crud(db: TestDb) {
    let s = &db.store;
    assert_eq!(s.user_count().await.unwrap(), 0);
    let admin = s
        .create_user(&NewUser {
            name: "Admin".into(),
            email: "Admin@Example.com".into(),
            is_admin: true,
            password_hash: Some("hash".into()),
        })
        .await
        .unwrap();
    assert_eq!(admin.api_key.len(), 40);
    assert_eq!(s.user(admin.id).await.unwrap(), admin);
    assert_eq!(
        s.user_by_email("admin@example.COM").await.unwrap().id,
        admin.id
    );
    assert_eq!(
        s.user_by_api_key(&admin.api_key).await.unwrap().id,
        admin.id
    );
    assert!(matches!(
        s.user_by_api_key("nope").await,
        Err(StoreError::NotFound(_))
    ));

    let dup = s
        .create_user(&NewUser {
            name: "Other".into(),
            email: "admin@example.com".into(),
            is_admin: false,
            password_hash: None,
        })
        .await;
    assert!(matches!(dup, Err(StoreError::Duplicate(_))), "{dup:?}");
    let bad = s
        .create_user(&NewUser {
            name: " ".into(),
            email: "x@y.z".into(),
            is_admin: false,
            password_hash: None,
        })
        .await;
    assert!(matches!(bad, Err(StoreError::Invalid(_))));

    let bob = db.user("bob").await;
    let page = s.list_users(Paging::new(1, 1).unwrap()).await.unwrap();
    assert_eq!(page.count, 2);
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, admin.id);

    let renamed = s
        .update_user(
            bob.id,
            &UserUpdate {
                name: Some("Robert".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "Robert");
    assert_eq!(renamed.email, bob.email);

    let disabled = s.set_user_disabled(bob.id, true).await.unwrap();
    assert!(disabled.is_disabled());
    assert!(
        !s.set_user_disabled(bob.id, false)
            .await
            .unwrap()
            .is_disabled()
    );

    let rekeyed = s.regenerate_user_api_key(bob.id).await.unwrap();
    assert_ne!(rekeyed.api_key, bob.api_key);
    assert!(s.user_by_api_key(&bob.api_key).await.is_err());
}
store_test!(users_crud);
