//! Windows Setup state: SYSTEM `Setup` (at the hive root, not in a control set) and SOFTWARE
//! `Microsoft\Windows\CurrentVersion\Setup\State\ImageState`. A machine whose next boot runs
//! Windows Setup — a sysprep-generalized "golden" image, an interrupted installation, an
//! in-place upgrade half done — is not waiting for a patch reboot, and the report must say so.

use crate::load::reader::{Key, ReadError};

/// SYSTEM key holding the setup state.
pub const SETUP_KEY: &str = "Setup";
/// SOFTWARE key whose `ImageState` Microsoft documents ("Windows Setup states").
pub const IMAGE_STATE_KEY: &str = "Microsoft\\Windows\\CurrentVersion\\Setup\\State";

pub use crate::context::setup::{SetupStage, WindowsSetup};

fn number(key: &Key<'_>, name: &str) -> Result<Option<u64>, ReadError> {
    Ok(key.value(name)?.map(|v| v.typed()).transpose()?.and_then(|d| d.as_u64()))
}

fn text(key: &Key<'_>, name: &str) -> Result<Option<String>, ReadError> {
    Ok(key
        .value(name)?
        .map(|v| v.typed())
        .transpose()?
        .and_then(|d| d.as_str().map(|s| s.trim().to_string()))
        .filter(|s| !s.is_empty()))
}

impl WindowsSetup {
    /// Reads SYSTEM `Setup`.
    pub fn read_system(setup: &Key<'_>, into: &mut WindowsSetup) -> Result<(), ReadError> {
        into.system_setup_in_progress = number(setup, "SystemSetupInProgress")?;
        into.oobe_in_progress = number(setup, "OOBEInProgress")?;
        into.setup_type = number(setup, "SetupType")?;
        into.cmd_line = text(setup, "CmdLine")?;
        into.upgrade = match number(setup, "Upgrade")? {
            Some(n) => Some(n),
            None => number(setup, "UpgradeInProgress")?,
        };
        into.interpret();
        Ok(())
    }

    /// Reads SOFTWARE `ImageState`.
    pub fn read_software(state: &Key<'_>, into: &mut WindowsSetup) -> Result<(), ReadError> {
        into.image_state = text(state, "ImageState")?;
        into.interpret();
        Ok(())
    }

    fn image_state_is(&self, fragment: &str) -> bool {
        self.image_state.as_deref().is_some_and(|s| s.to_ascii_uppercase().contains(fragment))
    }

    /// Decides the stage and the sentence from the values read so far.
    fn interpret(&mut self) {
        let on = |value: Option<u64>| value.is_some_and(|n| n != 0);
        // Winlogon runs CmdLine only while setup is on (SetupType ≠ 0); a command left behind
        // with SetupType 0 runs nothing.
        let active = on(self.setup_type) || on(self.system_setup_in_progress);
        let command = if active { self.cmd_line.clone().unwrap_or_default() } else { String::new() };
        let lower = command.to_ascii_lowercase();
        let then = if self.image_state_is("_TO_AUDIT") { "audit mode" } else { "OOBE" };
        self.generalized = lower.contains("windeploy") || self.image_state_is("IMAGE_STATE_GENERALIZE");
        let stage_and_text = if on(self.upgrade) || lower.contains("$windows.~bt") {
            Some((
                SetupStage::Upgrade,
                "an in-place upgrade continues: the next boot runs Windows Setup (setup upgrade)".to_string(),
            ))
        } else if lower.contains("windeploy") {
            Some((
                SetupStage::SpecializeAndOobe,
                format!(
                    "generalized (sysprep) image: the next boot runs Windows Setup, the specialize pass and then {then} ({command})"
                ),
            ))
        } else if on(self.oobe_in_progress) {
            Some((SetupStage::Oobe, "the next boot runs Windows Setup's OOBE (out-of-box experience)".to_string()))
        } else if on(self.setup_type) && !command.is_empty() {
            Some((
                SetupStage::SetupCommand,
                format!(
                    "the next boot runs {command:?} before the logon screen (SetupType = {}); outside Windows Setup this is also used to reset passwords or persist",
                    self.setup_type.unwrap_or(0)
                ),
            ))
        } else if on(self.system_setup_in_progress) {
            Some((
                SetupStage::SetupInProgress,
                "Windows Setup has not finished (SystemSetupInProgress = 1)".to_string(),
            ))
        } else {
            None
        };
        match stage_and_text {
            Some((stage, text)) => {
                self.stage = Some(stage);
                self.next_boot = Some(text);
            }
            None => {
                self.stage = None;
                self.next_boot = None;
            }
        }
    }

    /// The raw values in one line, e.g. `SystemSetupInProgress=1, OOBEInProgress=1, SetupType=2`.
    pub fn values_line(&self) -> String {
        let mut parts = Vec::new();
        let mut number = |name: &str, value: Option<u64>| {
            if let Some(n) = value {
                parts.push(format!("{name}={n}"));
            }
        };
        number("SystemSetupInProgress", self.system_setup_in_progress);
        number("OOBEInProgress", self.oobe_in_progress);
        number("SetupType", self.setup_type);
        number("Upgrade", self.upgrade);
        if let Some(command) = &self.cmd_line {
            parts.push(format!("CmdLine={command:?}"));
        }
        if let Some(state) = &self.image_state {
            parts.push(format!("ImageState={state}"));
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(in_progress: u64, oobe: u64, setup_type: u64, cmd: &str) -> WindowsSetup {
        let mut setup = WindowsSetup {
            system_setup_in_progress: Some(in_progress),
            oobe_in_progress: Some(oobe),
            setup_type: Some(setup_type),
            cmd_line: (!cmd.is_empty()).then(|| cmd.to_string()),
            ..Default::default()
        };
        setup.interpret();
        setup
    }

    #[test]
    fn stages() {
        let generalized = setup(1, 1, 2, "oobe\\windeploy.exe");
        assert_eq!(generalized.stage, Some(SetupStage::SpecializeAndOobe));
        assert!(generalized.generalized);
        assert!(generalized.next_boot.as_deref().unwrap().contains("specialize pass and then OOBE"));
        assert_eq!(setup(0, 0, 0, "").stage, None);
        assert_eq!(setup(0, 1, 0, "").stage, Some(SetupStage::Oobe));
        assert_eq!(setup(0, 0, 2, "cmd.exe").stage, Some(SetupStage::SetupCommand));
        // SetupType without a command runs nothing.
        assert_eq!(setup(0, 0, 2, "").stage, None);
        assert_eq!(setup(1, 0, 0, "").stage, Some(SetupStage::SetupInProgress));
        // A leftover command with setup off runs nothing.
        assert_eq!(setup(0, 0, 0, "oobe\\windeploy.exe").stage, None);
        assert!(!setup(0, 0, 0, "oobe\\windeploy.exe").generalized);
        assert_eq!(
            setup(1, 0, 2, "C:\\$WINDOWS.~BT\\Sources\\SetupPlatform.exe /postoobe").stage,
            Some(SetupStage::Upgrade)
        );
        let mut audit = setup(1, 0, 2, "oobe\\windeploy.exe");
        audit.image_state = Some("IMAGE_STATE_GENERALIZE_RESEAL_TO_AUDIT".into());
        audit.interpret();
        assert!(audit.next_boot.as_deref().unwrap().contains("then audit mode"));
        let mut complete = setup(0, 0, 0, "");
        complete.image_state = Some("IMAGE_STATE_COMPLETE".into());
        complete.interpret();
        assert!(!complete.generalized);
        assert_eq!(complete.next_boot, None);
    }
}
