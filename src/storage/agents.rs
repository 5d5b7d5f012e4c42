//! Agents in the database: the `agents` table (display name, skills, queues) and, for each agent,
//! its SIP user in `users` (HA1 for MD5 and SHA-256, never the password), written in one
//! transaction so an agent can always REGISTER with the password it was given.
use serde::Serialize;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::users::{self, ha1_md5, ha1_sha256};
use super::{now_ms, Backend, Storage, StorageError};

/// One provisioned agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentRecord {
    /// Also the agent's SIP user id.
    pub id: String,
    pub display: Option<String>,
    /// (skill, level 1–10).
    pub skills: Vec<(String, u8)>,
    /// Queues served; `None` = every queue the skills qualify for.
    pub queues: Option<Vec<String>>,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

impl AgentRecord {
    /// The ACD's view of this agent.
    pub fn to_config(&self) -> crate::acd::AgentConfig {
        crate::acd::AgentConfig { id: self.id.clone(), skills: self.skills.clone(), queues: self.queues.clone() }
    }
}

/// A change to an agent; `None` fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentChange {
    pub password: Option<String>,
    pub skills: Option<Vec<(String, u8)>>,
    /// `Some(None)` = back to "every qualifying queue".
    pub queues: Option<Option<Vec<String>>>,
    pub display: Option<String>,
}

/// Parses `name:level,...` (`lang:yue` alone is level 1). The error says which entry is wrong.
pub fn parse_skills(text: &str) -> Result<Vec<(String, u8)>, String> {
    let mut out: Vec<(String, u8)> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, level) = crate::acd::config::parse_skill(part)
            .ok_or_else(|| format!("'{part}' is not name or name:level with a level of 1 to 10 (e.g. retail:3,lang:yue)"))?;
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some(existing) => existing.1 = existing.1.max(level),
            None => out.push((name, level)),
        }
    }
    Ok(out)
}

/// The stored form: `name:level` joined by commas; a level-1 name with a colon (`lang:yue`) is
/// written bare, as operators write it.
pub fn format_skills(skills: &[(String, u8)]) -> String {
    let one = |(n, l): &(String, u8)| if *l == 1 && n.contains(':') { n.clone() } else { format!("{n}:{l}") };
    skills.iter().map(one).collect::<Vec<_>>().join(",")
}

/// Parses `q1,q2`; an empty list is refused (use "no queues" = every qualifying queue instead).
pub fn parse_queues(text: &str) -> Result<Vec<String>, String> {
    let list: Vec<String> = text.split(',').map(str::trim).filter(|q| !q.is_empty()).map(str::to_owned).collect();
    if list.is_empty() {
        return Err("is empty (name at least one queue, e.g. general,loan)".into());
    }
    if let Some(bad) = list.iter().find(|q| !q.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))) {
        return Err(format!("'{bad}' may hold only letters, digits and _-."));
    }
    Ok(list)
}

fn invalid(field: &'static str, reason: &'static str) -> StorageError {
    StorageError::InvalidInput { field, reason }
}

fn check_skills(skills: &[(String, u8)]) -> Result<(), StorageError> {
    let text = format_skills(skills);
    if parse_skills(&text).ok().as_deref() != Some(skills) {
        return Err(invalid("skills", "must be name:level with a level of 1 to 10, each name once"));
    }
    Ok(())
}

fn check_queues(queues: &Option<Vec<String>>) -> Result<(), StorageError> {
    match queues {
        Some(q) if parse_queues(&q.join(",")).ok().as_ref() != Some(q) => Err(invalid("queues", "must be queue names of letters, digits and _-.")),
        _ => Ok(()),
    }
}

fn record_of(row: &SqliteRow) -> Result<AgentRecord, StorageError> {
    let id: String = row.try_get("id").map_err(StorageError::from_sqlx)?;
    let corrupt = |column: &'static str| StorageError::CorruptRow { id: id.clone(), column };
    let skills: String = row.try_get("skills").map_err(|_| corrupt("skills"))?;
    let queues: Option<String> = row.try_get("queues").map_err(|_| corrupt("queues"))?;
    Ok(AgentRecord {
        skills: parse_skills(&skills).map_err(|_| corrupt("skills"))?,
        queues: queues.map(|q| parse_queues(&q)).transpose().map_err(|_| corrupt("queues"))?,
        display: row.try_get("display").map_err(|_| corrupt("display"))?,
        created_at: row.try_get("created_at").map_err(|_| corrupt("created_at"))?,
        updated_at: row.try_get("updated_at").map_err(|_| corrupt("updated_at"))?,
        id: id.clone(),
    })
}

const UPSERT_USER: &str = "INSERT INTO users (id, display, realm, ha1_md5, ha1_sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT(id) DO UPDATE SET realm = excluded.realm, ha1_md5 = excluded.ha1_md5, ha1_sha256 = excluded.ha1_sha256";

impl Storage {
    fn pool(&self) -> &sqlx::SqlitePool {
        match &self.backend {
            Backend::Sqlite(b) => b.pool(),
        }
    }

    /// Adds an agent and its SIP user (an existing user of that id gets this password). A removed
    /// agent of the same id is brought back with the new values.
    pub async fn add_agent(&self, id: &str, display: Option<&str>, skills: &[(String, u8)], queues: Option<&[String]>, password: &str, realm: &str) -> Result<AgentRecord, StorageError> {
        users::validate_id(id)?;
        users::validate_password(password)?;
        users::validate_realm(realm)?;
        if let Some(d) = display {
            users::validate_display(d)?;
        }
        check_skills(skills)?;
        let queues = queues.map(<[String]>::to_vec);
        check_queues(&queues)?;
        let now = now_ms();
        let mut tx = self.pool().begin().await.map_err(StorageError::from_sqlx)?;
        let live: Option<i64> = sqlx::query_scalar("SELECT 1 FROM agents WHERE id = $1 AND removed_at IS NULL")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StorageError::from_sqlx)?;
        if live.is_some() {
            return Err(StorageError::AgentExists { id: id.to_owned() });
        }
        sqlx::query(
            "INSERT INTO agents (id, display, skills, queues, created_at, updated_at, removed_at) VALUES ($1, $2, $3, $4, $5, $5, NULL) \
             ON CONFLICT(id) DO UPDATE SET display = excluded.display, skills = excluded.skills, queues = excluded.queues, \
             created_at = excluded.created_at, updated_at = excluded.updated_at, removed_at = NULL",
        )
        .bind(id)
        .bind(display)
        .bind(format_skills(skills))
        .bind(queues.as_ref().map(|q| q.join(",")))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StorageError::from_sqlx)?;
        sqlx::query(UPSERT_USER)
            .bind(id)
            .bind(display)
            .bind(realm)
            .bind(ha1_md5(id, realm, password))
            .bind(ha1_sha256(id, realm, password))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StorageError::from_sqlx)?;
        tx.commit().await.map_err(StorageError::from_sqlx)?;
        Ok(AgentRecord { id: id.to_owned(), display: display.map(str::to_owned), skills: skills.to_vec(), queues, created_at: now, updated_at: now })
    }

    /// Records an agent of the queue file unless the database knows it already (live or removed);
    /// `true` when it was new. Its skills and queues in the database win from then on.
    pub async fn seed_agent(&self, cfg: &crate::acd::AgentConfig) -> Result<bool, StorageError> {
        users::validate_id(&cfg.id)?;
        let now = now_ms();
        let done = sqlx::query("INSERT INTO agents (id, display, skills, queues, created_at, updated_at) VALUES ($1, NULL, $2, $3, $4, $4) ON CONFLICT(id) DO NOTHING")
            .bind(&cfg.id)
            .bind(format_skills(&cfg.skills))
            .bind(cfg.queues.as_ref().map(|q| q.join(",")))
            .bind(now)
            .execute(self.pool())
            .await
            .map_err(StorageError::from_sqlx)?;
        Ok(done.rows_affected() > 0)
    }

    /// Changes an agent; `Ok(None)` when there is no (live) agent with this id.
    pub async fn update_agent(&self, id: &str, change: &AgentChange, realm: &str) -> Result<Option<AgentRecord>, StorageError> {
        users::validate_id(id)?;
        if let Some(p) = &change.password {
            users::validate_password(p)?;
            users::validate_realm(realm)?;
        }
        if let Some(d) = &change.display {
            users::validate_display(d)?;
        }
        if let Some(s) = &change.skills {
            check_skills(s)?;
        }
        if let Some(q) = &change.queues {
            check_queues(q)?;
        }
        let mut tx = self.pool().begin().await.map_err(StorageError::from_sqlx)?;
        let row = sqlx::query("SELECT id, display, skills, queues, created_at, updated_at FROM agents WHERE id = $1 AND removed_at IS NULL")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StorageError::from_sqlx)?;
        let Some(row) = row else { return Ok(None) };
        let mut rec = record_of(&row)?;
        if let Some(s) = &change.skills {
            rec.skills.clone_from(s);
        }
        if let Some(q) = &change.queues {
            rec.queues.clone_from(q);
        }
        if let Some(d) = &change.display {
            rec.display = Some(d.clone());
        }
        rec.updated_at = now_ms();
        sqlx::query("UPDATE agents SET display = $2, skills = $3, queues = $4, updated_at = $5 WHERE id = $1")
            .bind(id)
            .bind(&rec.display)
            .bind(format_skills(&rec.skills))
            .bind(rec.queues.as_ref().map(|q| q.join(",")))
            .bind(rec.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(StorageError::from_sqlx)?;
        if let Some(p) = &change.password {
            sqlx::query(UPSERT_USER)
                .bind(id)
                .bind(&rec.display)
                .bind(realm)
                .bind(ha1_md5(id, realm, p))
                .bind(ha1_sha256(id, realm, p))
                .bind(rec.updated_at)
                .execute(&mut *tx)
                .await
                .map_err(StorageError::from_sqlx)?;
        }
        tx.commit().await.map_err(StorageError::from_sqlx)?;
        Ok(Some(rec))
    }

    /// Removes an agent and its SIP user; `false` when there was no live agent with this id. The
    /// row stays, marked removed, so the queue file does not bring the agent back at the next start.
    pub async fn remove_agent(&self, id: &str) -> Result<bool, StorageError> {
        users::validate_id(id)?;
        let mut tx = self.pool().begin().await.map_err(StorageError::from_sqlx)?;
        let done = sqlx::query("UPDATE agents SET removed_at = $2 WHERE id = $1 AND removed_at IS NULL")
            .bind(id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(StorageError::from_sqlx)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut *tx).await.map_err(StorageError::from_sqlx)?;
        tx.commit().await.map_err(StorageError::from_sqlx)?;
        Ok(true)
    }

    /// Live agents, by id.
    pub async fn list_agents(&self) -> Result<Vec<AgentRecord>, StorageError> {
        let rows = sqlx::query("SELECT id, display, skills, queues, created_at, updated_at FROM agents WHERE removed_at IS NULL ORDER BY id")
            .fetch_all(self.pool())
            .await
            .map_err(StorageError::from_sqlx)?;
        rows.iter().map(record_of).collect()
    }

    /// Ids of removed agents.
    pub async fn removed_agents(&self) -> Result<Vec<String>, StorageError> {
        sqlx::query_scalar("SELECT id FROM agents WHERE removed_at IS NOT NULL ORDER BY id")
            .fetch_all(self.pool())
            .await
            .map_err(StorageError::from_sqlx)
    }

    /// Sets a user's password (adding the user if there is none), storing only HA1 values.
    pub async fn set_password(&self, id: &str, password: &str, realm: &str) -> Result<(), StorageError> {
        users::validate_id(id)?;
        users::validate_password(password)?;
        users::validate_realm(realm)?;
        sqlx::query(UPSERT_USER)
            .bind(id)
            .bind(None::<String>)
            .bind(realm)
            .bind(ha1_md5(id, realm, password))
            .bind(ha1_sha256(id, realm, password))
            .bind(now_ms())
            .execute(self.pool())
            .await
            .map_err(StorageError::from_sqlx)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acd::AgentConfig;

    fn sk(list: &[(&str, u8)]) -> Vec<(String, u8)> {
        list.iter().map(|(s, l)| (s.to_string(), *l)).collect()
    }

    #[test]
    fn skills_parse_and_format_round_trip() {
        let s = parse_skills("retail:3, lang:yue ,loan:5,retail:1").unwrap();
        assert_eq!(s, sk(&[("retail", 3), ("lang:yue", 1), ("loan", 5)]));
        assert_eq!(format_skills(&s), "retail:3,lang:yue,loan:5");
        assert_eq!(format_skills(&sk(&[("lang:yue", 2), ("video", 1)])), "lang:yue:2,video:1");
        assert_eq!(parse_skills(&format_skills(&s)).unwrap(), s);
        assert!(parse_skills("retail:11").unwrap_err().contains("retail:11"));
        assert!(parse_skills("re tail").is_err());
        assert_eq!(parse_skills("").unwrap(), vec![]);
        assert!(parse_queues("general, loan").is_ok());
        assert!(parse_queues(" , ").is_err());
        assert!(parse_queues("gen eral").unwrap_err().contains("gen eral"));
    }

    #[tokio::test]
    async fn agents_are_users_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).await.unwrap();
        let rec = storage.add_agent("2001", Some("Ann"), &sk(&[("loan", 4)]), Some(&["loan".to_owned()]), "secret-pass", "ncgw").await.unwrap();
        assert_eq!(rec.queues, Some(vec!["loan".to_owned()]));
        let creds = storage.get_credentials("2001").await.unwrap().expect("agent is a SIP user");
        assert_eq!(creds.ha1_md5, ha1_md5("2001", "ncgw", "secret-pass"));
        assert_eq!(creds.ha1_sha256, ha1_sha256("2001", "ncgw", "secret-pass"));
        let again = storage.add_agent("2001", None, &[], None, "secret-pass", "ncgw").await.unwrap_err();
        assert!(matches!(again, StorageError::AgentExists { .. }), "{again}");
        storage.close().await.unwrap();

        let storage = Storage::open(dir.path()).await.unwrap();
        let list = storage.list_agents().await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!((list[0].display.as_deref(), list[0].skills.clone()), (Some("Ann"), sk(&[("loan", 4)])));
    }

    #[tokio::test]
    async fn update_changes_only_what_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).await.unwrap();
        storage.add_agent("2002", None, &sk(&[("retail", 2)]), None, "first-pass", "ncgw").await.unwrap();
        let change = AgentChange { password: Some("second-pass".into()), ..Default::default() };
        let rec = storage.update_agent("2002", &change, "ncgw").await.unwrap().unwrap();
        assert_eq!(rec.skills, sk(&[("retail", 2)]), "skills kept");
        assert_eq!(storage.get_credentials("2002").await.unwrap().unwrap().ha1_md5, ha1_md5("2002", "ncgw", "second-pass"));
        let change = AgentChange { skills: Some(sk(&[("video", 1)])), queues: Some(Some(vec!["video".into()])), ..Default::default() };
        let rec = storage.update_agent("2002", &change, "ncgw").await.unwrap().unwrap();
        assert_eq!((rec.skills, rec.queues), (sk(&[("video", 1)]), Some(vec!["video".to_owned()])));
        let change = AgentChange { queues: Some(None), ..Default::default() };
        assert_eq!(storage.update_agent("2002", &change, "ncgw").await.unwrap().unwrap().queues, None);
        assert_eq!(storage.update_agent("nobody", &AgentChange::default(), "ncgw").await.unwrap(), None);
        let bad = AgentChange { password: Some("short".into()), ..Default::default() };
        let err = storage.update_agent("2002", &bad, "ncgw").await.unwrap_err();
        assert!(matches!(err, StorageError::InvalidInput { field: "password", .. }), "{err}");
        let bad = AgentChange { skills: Some(sk(&[("loan", 0)])), ..Default::default() };
        assert!(matches!(storage.update_agent("2002", &bad, "ncgw").await.unwrap_err(), StorageError::InvalidInput { field: "skills", .. }));
    }

    #[tokio::test]
    async fn removal_deletes_the_user_and_keeps_the_seed_from_coming_back() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).await.unwrap();
        let cfg = AgentConfig { id: "1001".into(), skills: sk(&[("retail", 3)]), queues: None };
        assert!(storage.seed_agent(&cfg).await.unwrap());
        assert!(!storage.seed_agent(&cfg).await.unwrap(), "seeded once");
        storage.set_password("1001", "generated-pw", "ncgw").await.unwrap();
        assert!(storage.get_credentials("1001").await.unwrap().is_some());
        assert!(storage.remove_agent("1001").await.unwrap());
        assert!(!storage.remove_agent("1001").await.unwrap());
        assert!(storage.get_credentials("1001").await.unwrap().is_none(), "the SIP user went with it");
        assert!(!storage.seed_agent(&cfg).await.unwrap(), "a removed demo agent is not seeded again");
        assert_eq!(storage.removed_agents().await.unwrap(), vec!["1001"]);
        assert!(storage.list_agents().await.unwrap().is_empty());
        // Adding it again revives the row.
        storage.add_agent("1001", None, &sk(&[("retail", 1)]), None, "new-password", "ncgw").await.unwrap();
        assert!(storage.removed_agents().await.unwrap().is_empty());
        assert_eq!(storage.list_agents().await.unwrap()[0].skills, sk(&[("retail", 1)]));
    }
}
