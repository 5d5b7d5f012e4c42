//! Storage tests: CDR round trips, the journal under crashes and outages, users and HA1.
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use sqlx::{Connection, Executor};

use super::journal::{DRAINING, PENDING, REJECTED};
use super::*;

fn cdr(id: &str, started_at: i64) -> CdrRecord {
    CdrRecord {
        id: id.to_owned(),
        call_id_in: Some(format!("{id}@in.example")),
        call_id_out: None,
        caller: "+4930123456".to_owned(),
        callee: "support".to_owned(),
        source: "trunk-a".to_owned(),
        dialplan_rule: None,
        queue: None,
        agent: None,
        wait_ms: None,
        queue_outcome: None,
        outcome: Outcome::Failed,
        started_at,
        ringing_at: None,
        answered_at: None,
        ended_at: Some(started_at + 1000),
        setup_ms: None,
        talk_ms: None,
        cause: "no_answer".to_owned(),
        ended_by: EndedBy::System,
        sip_code_in: Some(480),
        sip_code_out: None,
        media: Vec::new(),
        tags: BTreeMap::new(),
    }
}

fn full_cdr() -> CdrRecord {
    let mut tags = BTreeMap::new();
    tags.insert("segment".to_owned(), "premium".to_owned());
    tags.insert("lang".to_owned(), "de".to_owned());
    CdrRecord {
        id: "call-full".to_owned(),
        call_id_in: Some("a84b4c76e66710@pc33.example".to_owned()),
        call_id_out: Some("ncgw-7f3a@gw.example".to_owned()),
        caller: "+4930123456".to_owned(),
        callee: "+4980055555".to_owned(),
        source: "user:alice".to_owned(),
        dialplan_rule: Some("premium-de".to_owned()),
        queue: Some("general".to_owned()),
        agent: Some("agent-7".to_owned()),
        wait_ms: Some(12_500),
        queue_outcome: Some("answered".into()),
        outcome: Outcome::Answered,
        started_at: 1_790_000_000_000,
        ringing_at: Some(1_790_000_000_300),
        answered_at: Some(1_790_000_013_000),
        ended_at: Some(1_790_000_073_000),
        setup_ms: Some(13_000),
        talk_ms: Some(60_000),
        cause: "normal".to_owned(),
        ended_by: EndedBy::Caller,
        sip_code_in: Some(200),
        sip_code_out: Some(200),
        media: vec![
            LegMediaStats {
                leg: "a".to_owned(),
                codec: Some("PCMA/8000".to_owned()),
                packets_in: 3000,
                packets_out: 2999,
                bytes_in: 516_000,
                bytes_out: 515_828,
                lost: 3,
                jitter_ms: 1.25,
                dropped_foreign: 2,
            },
            LegMediaStats {
                leg: "b".to_owned(),
                codec: None,
                packets_in: 0,
                packets_out: 0,
                bytes_in: 0,
                bytes_out: 0,
                lost: 0,
                jitter_ms: 0.0,
                dropped_foreign: 0,
            },
        ],
        tags,
    }
}

fn quick() -> StorageOptions {
    StorageOptions {
        busy_timeout: Duration::from_millis(50),
        channel_capacity: 64,
        retry_min: Duration::from_millis(10),
        retry_max: Duration::from_millis(50),
    }
}

fn journal_path(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join(JOURNAL_DIR).join(name)
}

async fn count_rows(storage: &Storage) -> usize {
    let all = storage.list_cdrs(None, 100_000).await.expect("list");
    let ids: HashSet<_> = all.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids.len(), all.len(), "an id appears twice");
    all.len()
}

/// Waits for an event with bounded retries; never a fixed "let it settle" sleep.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn cdr_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path()).await.unwrap();
    let record = full_cdr();
    storage.submit_cdr(record.clone()).unwrap();
    storage.flush().await.unwrap();
    assert_eq!(storage.get_cdr("call-full").await.unwrap(), Some(record));
    assert_eq!(storage.get_cdr("nope").await.unwrap(), None);
    assert_eq!(storage.pending(), 0);
    storage.close().await.unwrap();
}

/// Journal lines written before `queue_outcome` existed still read back (as `None`).
#[test]
fn journal_lines_without_queue_outcome_still_parse() {
    let mut v = serde_json::to_value(full_cdr()).unwrap();
    v.as_object_mut().unwrap().remove("queue_outcome");
    let back: CdrRecord = serde_json::from_value(v).unwrap();
    assert_eq!(back, CdrRecord { queue_outcome: None, ..full_cdr() });
}

#[tokio::test]
async fn non_finite_jitter_is_stored_as_zero() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path()).await.unwrap();
    let mut record = full_cdr();
    record.media[0].jitter_ms = f64::NAN;
    storage.submit_cdr(record).unwrap();
    storage.flush().await.unwrap();
    let back = storage.get_cdr("call-full").await.unwrap().unwrap();
    assert_eq!(back.media[0].jitter_ms, 0.0);
    assert_eq!(storage.rejected(), 0);
}

#[tokio::test]
async fn empty_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path()).await.unwrap();
    let err = storage.submit_cdr(cdr("", 1)).unwrap_err();
    assert!(matches!(err, StorageError::InvalidInput { field: "id", .. }), "{err:?}");
    assert_eq!(storage.pending(), 0);
}

/// The current-thread runtime does not run the writer while the loop submits, so the small
/// channel fills and most records take the caller-side journal path.
#[tokio::test]
async fn thousand_cdrs_land_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let options = StorageOptions { channel_capacity: 16, ..quick() };
    let storage = Storage::open_with(dir.path(), options).await.unwrap();
    for i in 0..1000 {
        storage.submit_cdr(cdr(&format!("call-{i:04}"), 1_000 + i)).unwrap();
    }
    assert!(storage.overflowed() > 0, "the overflow path was not exercised");
    // Submitting an id again is harmless: the id is the idempotency key.
    storage.submit_cdr(cdr("call-0007", 1_007)).unwrap();
    storage.flush().await.unwrap();
    assert_eq!(storage.pending(), 0);
    assert_eq!(count_rows(&storage).await, 1000);
    let journal = journal_path(dir.path(), PENDING);
    assert_eq!(std::fs::metadata(&journal).unwrap().len(), 0, "journal not emptied");
    assert!(!journal_path(dir.path(), DRAINING).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submitters_land_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let options = StorageOptions { channel_capacity: 8, ..quick() };
    let storage = Storage::open_with(dir.path(), options).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..4 {
        let storage = storage.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..250 {
                storage.submit_cdr(cdr(&format!("t{t}-{i}"), i)).unwrap();
                tokio::task::yield_now().await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    storage.flush().await.unwrap();
    assert_eq!(storage.pending(), 0);
    assert_eq!(count_rows(&storage).await, 1000);
}

#[tokio::test]
async fn journal_replay_after_crash() {
    let dir = tempfile::tempdir().unwrap();
    // A first run that stored one record, then "crashed" after inserting the draining batch but
    // before deleting it, and after journalling two more records that never reached the database.
    let storage = Storage::open(dir.path()).await.unwrap();
    storage.submit_cdr(cdr("inserted", 10)).unwrap();
    storage.flush().await.unwrap();
    storage.close().await.unwrap();

    let line = |r: &CdrRecord| String::from_utf8(journal::encode(r).unwrap()).unwrap();
    std::fs::write(journal_path(dir.path(), DRAINING), format!("{}\n{}\n", line(&cdr("inserted", 10)), line(&cdr("lost-1", 20)))).unwrap();
    // The last line was torn by the crash.
    let torn = line(&cdr("torn", 40));
    std::fs::write(journal_path(dir.path(), PENDING), format!("{}\n\n{}", line(&cdr("lost-2", 30)), &torn[..torn.len() / 2])).unwrap();

    let storage = Storage::open(dir.path()).await.unwrap();
    assert_eq!(storage.pending(), 0);
    assert_eq!(storage.rejected(), 1);
    let ids: Vec<String> = storage.list_cdrs(None, 10).await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, ["lost-2", "lost-1", "inserted"]);
    let rejected = std::fs::read_to_string(journal_path(dir.path(), REJECTED)).unwrap();
    assert_eq!(rejected, format!("{}\n", &torn[..torn.len() / 2]));
    assert!(!journal_path(dir.path(), DRAINING).exists());
    storage.close().await.unwrap();

    // And once more: nothing is replayed twice, the rejected line is not reported again.
    let storage = Storage::open(dir.path()).await.unwrap();
    assert_eq!(count_rows(&storage).await, 3);
    assert_eq!(storage.rejected(), 0);
}

#[tokio::test]
async fn torn_pending_line_does_not_swallow_the_next_record() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(JOURNAL_DIR)).unwrap();
    std::fs::write(journal_path(dir.path(), PENDING), "{\"id\":\"half").unwrap();
    let storage = Storage::open(dir.path()).await.unwrap();
    storage.submit_cdr(cdr("after", 1)).unwrap();
    storage.flush().await.unwrap();
    assert!(storage.get_cdr("after").await.unwrap().is_some());
    assert_eq!(storage.rejected(), 1);
}

/// Another connection holds the write lock: inserts fail with SQLITE_BUSY after the busy timeout.
#[tokio::test]
async fn database_locked_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open_with(dir.path(), quick()).await.unwrap();
    let url = format!("sqlite://{}", dir.path().join(DB_FILE).display());
    let mut blocker = sqlx::SqliteConnection::connect(&url).await.unwrap();
    blocker.execute("BEGIN EXCLUSIVE").await.unwrap();

    for i in 0..20 {
        storage.submit_cdr(cdr(&format!("locked-{i}"), i)).unwrap();
    }
    let err = storage.flush().await.unwrap_err();
    assert!(matches!(err, StorageError::StillJournalled { pending: 20 }), "{err:?}");
    assert_eq!(storage.pending(), 20);
    let journalled = std::fs::read_to_string(journal_path(dir.path(), DRAINING)).unwrap();
    assert_eq!(journalled.lines().count(), 20);

    // The lock goes away; the writer's backoff timer picks the records up without a flush.
    blocker.execute("ROLLBACK").await.unwrap();
    drop(blocker);
    wait_until("the writer's retry", || storage.pending() == 0).await;
    storage.flush().await.unwrap();
    assert_eq!(count_rows(&storage).await, 20);
    assert!(!journal_path(dir.path(), DRAINING).exists());
}

/// The database is still locked when the node stops; the next open replays the journal.
#[tokio::test]
async fn journalled_during_outage_replayed_at_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open_with(dir.path(), quick()).await.unwrap();
    let url = format!("sqlite://{}", dir.path().join(DB_FILE).display());
    let mut blocker = sqlx::SqliteConnection::connect(&url).await.unwrap();
    blocker.execute("BEGIN EXCLUSIVE").await.unwrap();
    storage.submit_cdr(cdr("outage-1", 1)).unwrap();
    storage.submit_cdr(cdr("outage-2", 2)).unwrap();
    assert!(matches!(storage.close().await, Err(StorageError::StillJournalled { pending: 2 })));
    // After close the writer is gone: a late record still reaches the journal.
    storage.submit_cdr(cdr("outage-3", 3)).unwrap();
    blocker.execute("ROLLBACK").await.unwrap();
    drop(blocker);

    let storage = Storage::open_with(dir.path(), quick()).await.unwrap();
    assert_eq!(storage.pending(), 0);
    assert_eq!(count_rows(&storage).await, 3);
}

/// The database file is deleted while the node runs: records stay journalled rather than go
/// into the unlinked file, and land in the new database at the next open.
#[tokio::test]
async fn database_file_deleted_keeps_records_journalled() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open_with(dir.path(), quick()).await.unwrap();
    storage.submit_cdr(cdr("before", 1)).unwrap();
    storage.flush().await.unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("{DB_FILE}{suffix}")));
    }
    storage.submit_cdr(cdr("after-delete", 2)).unwrap();
    let err = storage.flush().await.unwrap_err();
    assert!(matches!(err, StorageError::StillJournalled { pending: 1 }), "{err:?}");
    let _ = storage.close().await;

    let storage = Storage::open_with(dir.path(), quick()).await.unwrap();
    assert_eq!(storage.pending(), 0);
    let ids: Vec<String> = storage.list_cdrs(None, 10).await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, ["after-delete"], "the deleted database's rows are gone, the journalled one is not");
}

#[tokio::test]
async fn reopening_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let storage = Storage::open(dir.path()).await.unwrap();
        storage.submit_cdr(cdr(&format!("round-{round}"), round)).unwrap();
        storage.submit_cdr(cdr("same-every-time", 100)).unwrap();
        storage.flush().await.unwrap();
        assert_eq!(count_rows(&storage).await, round as usize + 2);
        storage.close().await.unwrap();
    }
}

#[tokio::test]
async fn list_cdrs_since_and_limit_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path()).await.unwrap();
    for (id, at) in [("c", 300), ("a", 100), ("e", 500), ("b", 200), ("d", 400), ("d2", 400)] {
        storage.submit_cdr(cdr(id, at)).unwrap();
    }
    storage.flush().await.unwrap();
    let ids = |v: Vec<CdrRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(storage.list_cdrs(None, 10).await.unwrap()), ["e", "d2", "d", "c", "b", "a"]);
    assert_eq!(ids(storage.list_cdrs(None, 2).await.unwrap()), ["e", "d2"]);
    assert_eq!(ids(storage.list_cdrs(Some(300), 10).await.unwrap()), ["e", "d2", "d", "c"]);
    assert_eq!(ids(storage.list_cdrs(Some(300), 3).await.unwrap()), ["e", "d2", "d"]);
    assert!(storage.list_cdrs(Some(501), 10).await.unwrap().is_empty());
    assert!(storage.list_cdrs(None, 0).await.unwrap().is_empty());
}

// Computed outside this code base: `printf 'alice:ncgw:secret123' | md5sum` (and sha256sum).
const ALICE_HA1_MD5: &str = "b935ae5307baed074934bafb0f18c7e2";
const ALICE_HA1_SHA256: &str = "df0e44255072f6a195731f72af4882215db404c6a70643c92e13276db2383f15";

#[test]
fn ha1_known_vectors() {
    assert_eq!(ha1_md5("alice", "ncgw", "secret123"), ALICE_HA1_MD5);
    assert_eq!(ha1_sha256("alice", "ncgw", "secret123"), ALICE_HA1_SHA256);
    // RFC 2617 §3.5: Mufasa / testrealm@host.com / "Circle Of Life".
    assert_eq!(ha1_md5("Mufasa", "testrealm@host.com", "Circle Of Life"), "939e7578ed9e3c518a452acee763bce9");
}

#[tokio::test]
async fn users_add_list_remove() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path()).await.unwrap();
    storage.add_user("alice", Some("Alice Agent"), "secret123", "ncgw").await.unwrap();
    storage.add_user("bob.7", None, "another-pass", "ncgw").await.unwrap();
    let err = storage.add_user("alice", None, "different1", "ncgw").await.unwrap_err();
    assert!(matches!(err, StorageError::UserExists { ref id } if id == "alice"), "{err:?}");

    let users = storage.list_users().await.unwrap();
    assert_eq!(users.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(), ["alice", "bob.7"]);
    assert_eq!(users[0].display.as_deref(), Some("Alice Agent"));
    assert_eq!(users[0].realm, "ncgw");
    assert!(users[0].created_at > 0);

    let creds = storage.get_credentials("alice").await.unwrap().unwrap();
    assert_eq!(creds.ha1_md5, ALICE_HA1_MD5);
    assert_eq!(creds.ha1_sha256, ALICE_HA1_SHA256);
    assert_eq!(storage.all_credentials().await.unwrap().len(), 2);

    // The password is nowhere in the database file.
    let Backend::Sqlite(backend) = &storage.backend;
    let hits: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE instr(id || display || realm || ha1_md5 || ha1_sha256, 'secret123') > 0")
        .fetch_one(backend.pool())
        .await
        .unwrap();
    assert_eq!(hits, 0);

    assert!(storage.remove_user("alice").await.unwrap());
    assert!(!storage.remove_user("alice").await.unwrap());
    assert_eq!(storage.get_credentials("alice").await.unwrap(), None);
    assert_eq!(storage.all_credentials().await.unwrap().len(), 1);
}

#[tokio::test]
async fn users_bad_input_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path()).await.unwrap();
    let long = "x".repeat(65);
    let cases: [(&str, &str, &str, &str); 7] = [
        ("", "secret123", "ncgw", "id"),
        (&long, "secret123", "ncgw", "id"),
        ("al ice", "secret123", "ncgw", "id"),
        ("alice@host", "secret123", "ncgw", "id"),
        ("alice", "short", "ncgw", "password"),
        ("alice", "secret123", "", "realm"),
        ("alice", "secret123", "nc\"gw", "realm"),
    ];
    for (id, password, realm, field) in cases {
        let err = storage.add_user(id, None, password, realm).await.unwrap_err();
        assert!(matches!(err, StorageError::InvalidInput { field: f, .. } if f == field), "{id:?}/{password:?}/{realm:?}: {err:?}");
    }
    let err = storage.add_user("alice", Some("bad\nname"), "secret123", "ncgw").await.unwrap_err();
    assert!(matches!(err, StorageError::InvalidInput { field: "display", .. }), "{err:?}");
    // Every unreserved mark is accepted, and 64 characters is the limit.
    storage.add_user("a-_.!~*'()9", None, "secret123", "ncgw").await.unwrap();
    storage.add_user(&"y".repeat(64), None, "12345678", "ncgw").await.unwrap();
    assert!(storage.list_users().await.unwrap().len() == 2);
    assert!(matches!(storage.remove_user("no/slash").await, Err(StorageError::InvalidInput { field: "id", .. })));
    // A lookup comes from a REGISTER: an impossible id is just unknown.
    assert_eq!(storage.get_credentials("no/slash").await.unwrap(), None);
}

#[tokio::test]
async fn unavailable_and_query_errors_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open_with(dir.path(), quick()).await.unwrap();
    let Backend::Sqlite(backend) = &storage.backend;
    let Err(err) = sqlx::query("SELECT nope FROM cdr").fetch_all(backend.pool()).await else {
        panic!("a query on a missing column succeeded");
    };
    assert!(matches!(StorageError::from_sqlx(err), StorageError::Query(_)));
    backend.pool().close().await;
    let err = storage.list_cdrs(None, 1).await.unwrap_err();
    assert!(matches!(err, StorageError::Unavailable(_)), "{err:?}");
}
