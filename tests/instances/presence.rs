//! Presence across instances: a member of a killed instance leaves within the lease while the
//! survivors serve on, and concurrent joins on every instance never overfill a room.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::time::timeout;

use crate::{
    cluster::Cluster,
    common::{stream::RoomStream, WAIT},
    user, ONE_CLUSTER_AT_A_TIME, PRESENCE_WAIT,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_of_a_killed_instance_leaves_within_the_lease() {
    let _turn = ONE_CLUSTER_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start(&[]).await;
    let (one, two, three, proxy) = (cluster.url(1), cluster.url(2), cluster.url(3), cluster.proxy());

    let owner = user();
    let room = owner.at(&two).create_room(json!({ "title": "survivors" })).await;
    let mut owner_sse = owner.at(&two).sse(&room, None).await;
    let carol = user();
    let mut carol_ws = carol.at(&three).ws(&room, None).await;
    let victor = user();
    let victor_id = victor.at(&one).rename("Victor").await;
    // Victor's only stream, on instance 1.
    let _victor_sse = victor.at(&one).sse(&room, None).await;
    // Two users through nginx: consecutive connections, so one stream on 1 and one on 2.
    let proxied = [user(), user()];
    let mut proxied_sse = [proxied[0].at(&proxy).sse(&room, None).await, proxied[1].at(&proxy).sse(&room, None).await];
    wait_for_members(&mut owner_sse, |ids| ids.len() == 5 && ids.contains(&victor_id)).await;
    assert_eq!(owner.at(&two).room(&room).await["members"], 5);
    let ready = owner.at(&two).say(&room, "all here").await;
    for stream in &mut proxied_sse {
        assert_eq!(stream.next_chat().await, ready);
    }

    cluster.kill9(1);

    // The survivors serve on: directly, and through nginx (which passes what it would have
    // sent to the dead instance 1 on to instance 2).
    let on_two = owner.at(&two).say(&room, "instance 2 still serves").await;
    let on_three = carol.at(&three).say(&room, "instance 3 still serves").await;
    let mut through_proxy = Vec::new();
    for n in 0..4 {
        through_proxy.push(owner.at(&proxy).say(&room, &format!("through nginx #{n}")).await);
    }

    // The proxied stream that instance 1 served broke off; the other one reads on. The broken
    // one reconnects through nginx, as EventSource would, from the last id it got.
    let last_post = through_proxy.last().unwrap().clone();
    let mut broken = Vec::new();
    for (n, stream) in proxied_sse.iter_mut().enumerate() {
        let carried_on = timeout(WAIT, async {
            loop {
                match stream.try_next().await {
                    Ok(Some(event)) if event.data["id"] == last_post["id"] => return true,
                    Ok(Some(_)) => continue,
                    Ok(None) | Err(_) => return false,
                }
            }
        })
        .await
        .expect("a proxied stream either breaks off or carries on");
        if !carried_on {
            broken.push((n, stream.last_id));
        }
    }
    assert_eq!(broken.len(), 1, "exactly one proxied stream was on instance 1: {broken:?}");
    let (n, resume_from) = broken[0];
    assert_eq!(resume_from, ready["id"].as_i64(), "it broke off right after what it had");
    let mut resumed = proxied[n].at(&proxy).sse(&room, resume_from).await;

    let left = timeout(PRESENCE_WAIT, async {
        loop {
            let event = owner_sse.next().await;
            if event.name == "system" && event.data["change"] == "left" {
                assert_eq!(event.data["text"], "Victor left the room.");
                return event.data;
            }
        }
    })
    .await
    .expect("the killed instance's member left within PRESENCE_LEASE plus slack");
    assert_eq!(left["kind"], "system");
    assert_eq!(left["user"]["id"], victor_id.as_str());
    for survivor in [&two, &three] {
        assert_eq!(owner.at(survivor).room(&room).await["members"], 4, "the seat is gone on {survivor}");
    }
    let after = carol.at(&three).say(&room, "after the leave").await;
    assert_eq!(owner_sse.next_chat_with_id(&after).await, after);

    // Carol (instance 3) and the resumed stream got everything, in the room's order.
    let mut expected = vec![on_two, on_three];
    expected.extend(through_proxy);
    expected.push(left);
    expected.push(after.clone());
    expected.sort_by_key(|message| message["id"].as_i64());
    let carol_saw = timeout(PRESENCE_WAIT, async {
        let mut seen = Vec::new();
        while seen.len() < expected.len() {
            let message = carol_ws.next_messages(1).await.remove(0);
            if message["id"].as_i64() > ready["id"].as_i64() {
                seen.push(message);
            }
        }
        seen
    })
    .await
    .expect("carol's stream got everything");
    assert_eq!(carol_saw, expected);
    let history = owner.at(&two).history_after(&room, resume_from.unwrap()).await;
    assert_eq!(history, expected, "history has nothing the streams did not show");
    assert_eq!(resumed.next_messages(expected.len()).await, expected, "the resumed stream missed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_joins_on_every_instance_never_overfill_a_room() {
    let _turn = ONE_CLUSTER_AT_A_TIME.lock().await;
    // Seats taken by `POST …/join` last PRESENCE_GRACE; at 1 s one could lapse while the 30
    // joins are still being decided and free a place, making "exactly 4" a matter of timing.
    // A long grace keeps every seat for the whole test, so only the capacity check decides.
    let cluster = Cluster::start(&[("PRESENCE_GRACE", "60s")]).await;
    let urls = [cluster.url(1), cluster.url(2), cluster.url(3)];

    let owner = user();
    let room = owner.at(&urls[0]).create_room(json!({ "title": "five seats", "max": 5 })).await;
    let mut users = Vec::new();
    for n in 0..30 {
        let user = user();
        user.at(&urls[n % 3]).me().await; // the identity cookie first, so only the joins race
        users.push((user, urls[n % 3].clone()));
    }
    let start = Arc::new(tokio::sync::Barrier::new(users.len()));
    let joins: Vec<_> = users
        .into_iter()
        .map(|(user, base)| {
            let (start, room) = (start.clone(), room.clone());
            tokio::spawn(async move {
                start.wait().await;
                let response =
                    user.at(&base).post(&format!("/api/rooms/{room}/join"), json!({})).await.expect("an answer");
                let status = response.status();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                (base, status, body)
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for join in joins {
        outcomes.push(timeout(WAIT, join).await.expect("every join answered").unwrap());
    }

    let admitted: Vec<_> = outcomes.iter().filter(|(_, status, _)| *status == StatusCode::OK).collect();
    let refused = outcomes
        .iter()
        .filter(|(_, status, body)| *status == StatusCode::CONFLICT && body["error"] == "room_full")
        .count();
    let other: Vec<_> =
        outcomes.iter().filter(|(_, status, _)| *status != StatusCode::OK && *status != StatusCode::CONFLICT).collect();
    assert!(other.is_empty(), "only 200 or 409 room_full: {other:?}");
    assert_eq!(admitted.len(), 4, "the owner holds the fifth seat: {admitted:?}");
    assert_eq!(refused, 26);
    for base in &urls {
        assert_eq!(owner.at(base).room(&room).await["members"], 5, "{base} counts five members");
    }
}

fn member_ids(members: &Value) -> Vec<String> {
    members["members"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
}

/// Keeps a member list as a client does (the `members` list on connect, then the `change` of
/// each later system message) until it satisfies `done`.
async fn wait_for_members(stream: &mut RoomStream, done: impl Fn(&[String]) -> bool) {
    let (mut ids, mut as_of) = (Vec::new(), i64::MIN);
    loop {
        let event = stream.next().await;
        match event.name.as_str() {
            "members" => (ids, as_of) = (member_ids(&event.data), event.data["as_of"].as_i64().unwrap()),
            "system" if event.data["id"].as_i64().unwrap() > as_of => {
                let user = event.data["user"]["id"].as_str().unwrap().to_owned();
                match event.data["change"].as_str() {
                    Some("joined") => ids.push(user),
                    Some("left" | "kicked") => ids.retain(|id| *id != user),
                    _ => {}
                }
            }
            _ => continue,
        }
        if done(&ids) {
            return;
        }
    }
}
