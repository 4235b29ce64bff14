//! What a finding holds besides its key and summary: one typed shape per kind of check
//! ([`Check`](crate::rules::Check)), so that the image stage and the reports read and extend
//! fields by name instead of editing a JSON tree by key.
//!
//! The JSON these types write is a documented contract (`data` in `--format json`, the Python
//! package's dicts): the object keys come out in alphabetical order, as they did when `data`
//! was a `serde_json::Value` (a map sorted by key). Fields are therefore declared in that
//! order, and the tests below pin every shape byte for byte.

use std::collections::BTreeMap;

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::context::setup::WindowsSetup;
use crate::load::filetime::FileTime;
use crate::load::pending_renames::FileOperation;
use crate::rules::pfro::OperationClass;

/// The data of one finding, by the kind of check that produced it. Serialised as the inner
/// object alone (no tag): the rule id beside it says which shape it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum FindingData {
    /// `KeyExists`: the key's values (name → shown data) and subkey names.
    KeyExists(KeyContents),
    /// `KeyHasValues`: the values.
    KeyHasValues(ValueList),
    /// `KeyHasSubkeys`: the subkey names.
    KeyHasSubkeys(SubkeyList),
    /// The value checks (`ValueExists`, `ValueNonEmpty`, `ValueNonZero`, `ValueEquals`,
    /// `ValueNotEquals`, `ValueIn`): the value's type and data as shown.
    Value(ValueShown),
    /// `PendingFileRenames`: the decoded, classified operations.
    PendingFileRenames(PendingRenamesData),
    /// `DnsHostnameRename`.
    DnsHostnameRename(DnsHostnameRename),
    /// `NetbiosRename`.
    NetbiosRename(NetbiosRename),
    /// `ServicingSessionsIncomplete`.
    ServicingSessionsIncomplete(IncompleteSessions),
    /// `ComponentsTransaction`: the transaction markers present (name → shown data).
    ComponentsTransaction(ValueList),
    /// `BurnRebootKeys`: the `….RebootRequired` subkeys.
    BurnRebootKeys(SubkeyList),
    /// `CumulativeUpdatePending`.
    CumulativeUpdatePending(CumulativeUpdate),
    /// `WindowsSetup`.
    WindowsSetup(WindowsSetupData),
}

impl FindingData {
    /// The PendingFileRenameOperations data, for the rules of that check.
    pub fn pending_renames(&self) -> Option<&PendingRenamesData> {
        match self {
            FindingData::PendingFileRenames(data) => Some(data),
            _ => None,
        }
    }

    pub fn pending_renames_mut(&mut self) -> Option<&mut PendingRenamesData> {
        match self {
            FindingData::PendingFileRenames(data) => Some(data),
            _ => None,
        }
    }

    /// Value names (name → shown data) when the data lists a key's values.
    pub fn values(&self) -> Option<&BTreeMap<String, String>> {
        match self {
            FindingData::KeyExists(KeyContents { values, .. })
            | FindingData::KeyHasValues(ValueList { values })
            | FindingData::ComponentsTransaction(ValueList { values })
            | FindingData::WindowsSetup(WindowsSetupData { values, .. }) => Some(values),
            _ => None,
        }
    }
}

/// A key's values, name → data as shown (at most the first 100).
pub type ValueMap = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyContents {
    pub subkeys: Vec<String>,
    pub values: ValueMap,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ValueList {
    pub values: ValueMap,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SubkeyList {
    pub subkeys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ValueShown {
    /// `REG_DWORD`, `REG_SZ`, …
    #[serde(rename = "type")]
    pub data_type: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DnsHostnameRename {
    /// The active name.
    pub hostname: String,
    /// The name after the next boot.
    pub nv_hostname: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NetbiosRename {
    pub active_computer_name: String,
    /// Where the active name was read (the volatile `ActiveComputerName` key).
    pub active_key: String,
    /// The name after the next boot.
    pub computer_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IncompleteSessions {
    pub incomplete: Vec<ServicingProblem>,
}

/// Why CBS servicing is not finished.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum ServicingProblem {
    /// `SessionsPending\Exclusive` ≠ 0: written as `{"problem": …, "session": null}`.
    Exclusive {
        problem: String,
        /// Always `null`: no session is named.
        session: (),
    },
    /// A session without `Complete` = 1.
    Session { last_committed_phase: Option<String>, last_write: Option<FileTime>, problem: String, session: String },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CumulativeUpdate {
    pub install_time: Option<FileTime>,
    pub kb: Option<String>,
    pub package: String,
    /// `19041.3803`.
    pub package_build: String,
    /// The package's state in words (`Install Pending`).
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WindowsSetupData {
    pub values: ValueMap,
    /// Written with its keys in alphabetical order, as the JSON contract has them.
    #[serde(serialize_with = "sorted_keys")]
    pub windows_setup: WindowsSetup,
}

/// Writes a struct with its keys in alphabetical order, as the JSON contract has them, when
/// its own field order (used where it is written elsewhere, e.g. `context.windows_setup`)
/// differs. Going through a sorted `serde_json` map is the one way that cannot drift from it.
fn sorted_keys<T: Serialize, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serde_json::to_value(value).map_err(serde::ser::Error::custom)?.serialize(serializer)
}

/// PendingFileRenameOperations(2), decoded and classified.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PendingRenamesData {
    /// Operations per class label, every class listed (0 included).
    pub counts: BTreeMap<&'static str, usize>,
    /// Size of the value's data.
    pub data_bytes: usize,
    pub deletes: usize,
    /// Encoding problems, in words, the affected strings quoted.
    pub malformed: Vec<String>,
    pub operations: Vec<PendingOperation>,
    pub renames: usize,
    pub replace_existing: usize,
    /// The value's registry type (`REG_MULTI_SZ` unless the writer did something odd).
    #[serde(rename = "type")]
    pub data_type: String,
}

/// One operation with its class and, for machines read from a disk image, what is on the
/// volume at both ends of a rename.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingOperation {
    pub operation: FileOperation,
    pub class: OperationClass,
    /// Filled by the image stage for renames: the file that will be moved into place
    /// (`staged`) and the one it replaces (`current`).
    pub on_volume: Option<RenameOnVolume>,
}

/// The two ends of a rename, looked up on the machine's volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenameOnVolume {
    pub staged: FileOnVolume,
    pub current: FileOnVolume,
}

/// What was found at one path of a pending rename.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOnVolume {
    pub status: FileStatus,
    /// The PE file version, when the file is one.
    pub version: Option<String>,
    /// Why no version, or why the file was not looked up.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    Present,
    Missing,
    Unreadable,
    /// Not looked up: another drive, the root folder, the volume could not be opened.
    NotChecked,
}

impl FileStatus {
    pub fn label(self) -> &'static str {
        match self {
            FileStatus::Present => "present",
            FileStatus::Missing => "missing",
            FileStatus::Unreadable => "unreadable",
            FileStatus::NotChecked => "not_checked",
        }
    }
}

/// One flat object, keys in alphabetical order: the operation's fields and `class`, then
/// `current_*`/`staged_*` (status, version, detail) when looked up on a volume.
impl Serialize for PendingOperation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let op = &self.operation;
        let fields = if self.on_volume.is_some() { 16 } else { 10 };
        let mut map = serializer.serialize_map(Some(fields))?;
        map.serialize_entry("class", &self.class)?;
        if let Some(files) = &self.on_volume {
            map.serialize_entry("current_detail", &files.current.detail)?;
            map.serialize_entry("current_file", &files.current.status)?;
            map.serialize_entry("current_version", &files.current.version)?;
        }
        map.serialize_entry("index", &op.index)?;
        map.serialize_entry("op", &op.op)?;
        map.serialize_entry("replace_existing", &op.replace_existing)?;
        map.serialize_entry("source", &op.source)?;
        map.serialize_entry("source_path", &op.source_path)?;
        map.serialize_entry("source_raw", &op.source_raw)?;
        if let Some(files) = &self.on_volume {
            map.serialize_entry("staged_detail", &files.staged.detail)?;
            map.serialize_entry("staged_file", &files.staged.status)?;
            map.serialize_entry("staged_version", &files.staged.version)?;
        }
        map.serialize_entry("target", &op.target)?;
        map.serialize_entry("target_path", &op.target_path)?;
        map.serialize_entry("target_raw", &op.target_raw)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::setup::SetupStage;
    use crate::load::pending_renames::OperationKind;

    fn json(data: FindingData) -> String {
        serde_json::to_string(&data).unwrap()
    }

    fn values(pairs: &[(&str, &str)]) -> ValueMap {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Every shape, written out by hand: the contract of `data`.
    #[test]
    fn every_shape_is_the_documented_json() {
        assert_eq!(
            json(FindingData::KeyExists(KeyContents {
                subkeys: vec!["b".into()],
                values: values(&[("Z", "1"), ("A", "x")])
            })),
            r#"{"subkeys":["b"],"values":{"A":"x","Z":"1"}}"#
        );
        assert_eq!(json(FindingData::KeyHasValues(ValueList { values: values(&[]) })), r#"{"values":{}}"#);
        assert_eq!(json(FindingData::BurnRebootKeys(SubkeyList { subkeys: vec![] })), r#"{"subkeys":[]}"#);
        assert_eq!(
            json(FindingData::Value(ValueShown { data_type: "REG_DWORD".into(), value: "1".into() })),
            r#"{"type":"REG_DWORD","value":"1"}"#
        );
        assert_eq!(
            json(FindingData::DnsHostnameRename(DnsHostnameRename { hostname: "a".into(), nv_hostname: "b".into() })),
            r#"{"hostname":"a","nv_hostname":"b"}"#
        );
        assert_eq!(
            json(FindingData::NetbiosRename(NetbiosRename {
                active_computer_name: "A".into(),
                active_key: "K".into(),
                computer_name: "B".into()
            })),
            r#"{"active_computer_name":"A","active_key":"K","computer_name":"B"}"#
        );
        assert_eq!(
            json(FindingData::ServicingSessionsIncomplete(IncompleteSessions {
                incomplete: vec![
                    ServicingProblem::Exclusive { problem: "Exclusive = 1".into(), session: () },
                    ServicingProblem::Session {
                        last_committed_phase: None,
                        last_write: None,
                        problem: "no Complete value".into(),
                        session: "S1".into()
                    },
                ]
            })),
            r#"{"incomplete":[{"problem":"Exclusive = 1","session":null},{"last_committed_phase":null,"last_write":null,"problem":"no Complete value","session":"S1"}]}"#
        );
        assert_eq!(
            json(FindingData::CumulativeUpdatePending(CumulativeUpdate {
                install_time: None,
                kb: Some("KB1".into()),
                package: "P".into(),
                package_build: "19041.1".into(),
                state: "Install Pending".into()
            })),
            r#"{"install_time":null,"kb":"KB1","package":"P","package_build":"19041.1","state":"Install Pending"}"#
        );
        let setup = WindowsSetup {
            system_setup_in_progress: Some(1),
            stage: Some(SetupStage::Oobe),
            next_boot: Some("OOBE".into()),
            ..WindowsSetup::default()
        };
        assert_eq!(
            json(FindingData::WindowsSetup(WindowsSetupData { values: values(&[("a", "b")]), windows_setup: setup })),
            r#"{"values":{"a":"b"},"windows_setup":{"cmd_line":null,"generalized":false,"image_state":null,"next_boot":"OOBE","oobe_in_progress":null,"setup_type":null,"stage":"oobe","system_setup_in_progress":1,"upgrade":null}}"#
        );
    }

    #[test]
    fn an_operation_is_one_object_with_sorted_keys_and_volume_fields_only_when_looked_up() {
        let operation = FileOperation {
            index: 0,
            op: OperationKind::Rename,
            source: "\\??\\C:\\a".into(),
            target: Some("\\??\\C:\\b".into()),
            replace_existing: true,
            source_path: "C:\\a".into(),
            target_path: Some("C:\\b".into()),
            source_raw: "\\??\\C:\\a".into(),
            target_raw: "!\\??\\C:\\b".into(),
        };
        let mut pending =
            PendingOperation { operation: operation.clone(), class: OperationClass::Other, on_volume: None };
        let mut data = PendingRenamesData {
            counts: [("other", 1)].into_iter().collect(),
            data_bytes: 10,
            deletes: 0,
            malformed: vec![],
            operations: vec![pending.clone()],
            renames: 1,
            replace_existing: 1,
            data_type: "REG_MULTI_SZ".into(),
        };
        // The JSON the operation had as a flattened struct turned into a sorted map.
        let old = |extra: Option<serde_json::Value>| {
            let mut object = serde_json::to_value(&operation).unwrap();
            object["class"] = serde_json::json!("other");
            if let Some(serde_json::Value::Object(extra)) = extra {
                object.as_object_mut().unwrap().extend(extra);
            }
            serde_json::to_string(&object).unwrap()
        };
        assert_eq!(serde_json::to_string(&pending).unwrap(), old(None));
        assert!(json(FindingData::PendingFileRenames(data.clone())).starts_with(
            r#"{"counts":{"other":1},"data_bytes":10,"deletes":0,"malformed":[],"operations":[{"class":"other","index":0,"#
        ));
        assert!(json(FindingData::PendingFileRenames(data.clone()))
            .ends_with(r#""target_raw":"!\\??\\C:\\b"}],"renames":1,"replace_existing":1,"type":"REG_MULTI_SZ"}"#));
        pending.on_volume = Some(RenameOnVolume {
            staged: FileOnVolume { status: FileStatus::Present, version: Some("1.2".into()), detail: None },
            current: FileOnVolume { status: FileStatus::Missing, version: None, detail: Some("d".into()) },
        });
        let annotated = serde_json::json!({
            "staged_file": "present", "staged_version": "1.2", "staged_detail": null,
            "current_file": "missing", "current_version": null, "current_detail": "d",
        });
        assert_eq!(serde_json::to_string(&pending).unwrap(), old(Some(annotated)));
        data.operations = vec![pending];
        assert_eq!(data.operations[0].on_volume.as_ref().map(|f| f.staged.status.label()), Some("present"));
    }
}
