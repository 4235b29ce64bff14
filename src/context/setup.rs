//! Windows Setup state as plain data: what the next boot runs when setup has not finished
//! (read from the hives by `rules::setup`).

use serde::Serialize;

/// What the next boot runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SetupStage {
    /// `oobe\windeploy.exe`: the specialize pass, then OOBE (or audit mode).
    SpecializeAndOobe,
    /// OOBE only (`OOBEInProgress` = 1 after specialize).
    Oobe,
    /// An in-place upgrade (setup upgrade) continues.
    Upgrade,
    /// Winlogon runs `CmdLine` before the logon screen (`SetupType` ≠ 0).
    SetupCommand,
    /// `SystemSetupInProgress` = 1 with nothing more specific.
    SetupInProgress,
}

/// The setup values as read, and what they mean.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WindowsSetup {
    pub system_setup_in_progress: Option<u64>,
    pub oobe_in_progress: Option<u64>,
    pub setup_type: Option<u64>,
    pub cmd_line: Option<String>,
    /// `Setup\Upgrade` or `Setup\UpgradeInProgress` when present (names seen in upgrade
    /// write-ups, not documented by Microsoft).
    pub upgrade: Option<u64>,
    /// SOFTWARE `…\Setup\State\ImageState`, e.g. `IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE`.
    pub image_state: Option<String>,
    /// A sysprep-generalized image: `windeploy.exe` is queued or ImageState says generalized.
    pub generalized: bool,
    pub stage: Option<SetupStage>,
    /// What the next boot runs, in words; `None` when setup is complete.
    pub next_boot: Option<String>,
}
