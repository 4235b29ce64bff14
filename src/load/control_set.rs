//! Which `ControlSetNNN` an offline SYSTEM hive was running on.
//!
//! `CurrentControlSet` is a link the kernel creates at boot; it is never in a hive file.
//! `Select\Current` names the set in use when the hive was written (then `Default`, then
//! `LastKnownGood` as fallbacks), formatted `ControlSet%03u` — RegRipper's
//! `"ControlSet00" + N` breaks at 10.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::load::kind::control_set_number;
use crate::load::reader::{Key, ReadError};

/// The resolution, with everything needed to explain it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlSetChoice {
    /// The set the rules read, e.g. `ControlSet001`; `None` when no usable set exists.
    pub name: Option<String>,
    /// Where the choice came from: `Select\Current`, `Select\Default`, `Select\LastKnownGood`
    /// or `only control set present`.
    pub source: Option<String>,
    /// The DWORDs found under `Select` (Current, Default, LastKnownGood, Failed).
    pub select: BTreeMap<String, u32>,
    /// Every `ControlSetNNN` key in the hive.
    pub available: Vec<String>,
    /// Problems met on the way (a `Select` value naming a missing set, …).
    pub notes: Vec<String>,
}

impl ControlSetChoice {
    /// The set Windows will boot next (`Select\Default`) when it differs from the one chosen.
    pub fn default_if_different(&self) -> Option<String> {
        let default = format_control_set(*self.select.get("Default")?);
        (Some(&default) != self.name.as_ref() && self.available.contains(&default)).then_some(default)
    }
}

pub fn format_control_set(number: u32) -> String {
    format!("ControlSet{number:03}")
}

/// Resolves the control set of a SYSTEM hive's root key.
pub fn resolve(root: &Key<'_>) -> Result<ControlSetChoice, ReadError> {
    let mut available: Vec<String> =
        root.subkey_names()?.into_iter().filter(|n| control_set_number(n).is_some()).collect();
    available.sort_by_key(|n| control_set_number(n));
    let mut choice =
        ControlSetChoice { name: None, source: None, select: BTreeMap::new(), available, notes: Vec::new() };

    if let Some(select) = root.subkey("Select")? {
        for field in ["Current", "Default", "LastKnownGood", "Failed"] {
            if let Some(data) = select.value(field)?.map(|v| v.typed()).transpose()? {
                match data.as_u64().and_then(|n| u32::try_from(n).ok()) {
                    Some(number) => {
                        choice.select.insert(field.to_string(), number);
                    }
                    None => choice.notes.push(format!("Select\\{field} is not a number: {}", data.display())),
                }
            }
        }
    } else {
        choice.notes.push("no Select key".to_string());
    }

    for field in ["Current", "Default", "LastKnownGood"] {
        let Some(&number) = choice.select.get(field) else { continue };
        if !(1..=999).contains(&number) {
            choice.notes.push(format!("Select\\{field} = {number} is outside 1..999"));
            continue;
        }
        let name = format_control_set(number);
        if let Some(stored) = choice.available.iter().find(|a| a.eq_ignore_ascii_case(&name)) {
            choice.name = Some(stored.clone());
            choice.source = Some(format!("Select\\{field}"));
            return Ok(choice);
        }
        choice.notes.push(format!("Select\\{field} = {number} names {name}, which is not in the hive"));
    }
    if choice.available.len() == 1 {
        choice.name = choice.available.first().cloned();
        choice.source = Some("only control set present".to_string());
    }
    Ok(choice)
}
