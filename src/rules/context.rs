//! Reads the machine context (names, OS, last shutdown) from SYSTEM and SOFTWARE; the types
//! live in [`crate::context`], shared with the patch level.

use crate::context::folders::MachineFolders;
use crate::load::filetime::FileTime;
use crate::load::reader::{Key, ReadError, ValueData};
use crate::rules::setup::{self, WindowsSetup};

pub use crate::context::{MachineContext, OsInfo};

fn typed(key: &Key<'_>, name: &str) -> Result<Option<ValueData>, ReadError> {
    key.value(name)?.map(|v| v.typed()).transpose()
}

fn text(key: &Key<'_>, name: &str) -> Result<Option<String>, ReadError> {
    Ok(typed(key, name)?.and_then(|d| d.as_str().map(str::to_string)).filter(|s| !s.is_empty()))
}

fn number(key: &Key<'_>, name: &str) -> Result<Option<u64>, ReadError> {
    Ok(typed(key, name)?.and_then(|d| d.as_u64()))
}

/// Reads the SYSTEM part of the context below the resolved control set. A value that is there
/// but cannot be read as what it means (a ShutdownTime that is no FILETIME) is not dropped in
/// silence: it goes to `warnings`, with its key.
pub fn read_system(
    root: &Key<'_>,
    control_set: &str,
    context: &mut MachineContext,
    warnings: &mut Vec<String>,
) -> Result<(), ReadError> {
    if let Some(key) = root.subpath(&format!("{control_set}\\Control\\ComputerName\\ComputerName"))? {
        context.computer_name = text(&key, "ComputerName")?;
    }
    if let Some(key) = root.subpath(&format!("{control_set}\\Services\\Tcpip\\Parameters"))? {
        context.dns_host_name = text(&key, "Hostname")?;
        context.nv_host_name = text(&key, "NV Hostname")?;
        context.domain = text(&key, "Domain")?;
    }
    if let Some(key) = root.subpath(&format!("{control_set}\\Control\\Session Manager\\Environment"))? {
        context.processor_architecture = text(&key, "PROCESSOR_ARCHITECTURE")?;
    }
    if let Some(key) = root.subpath(&format!("{control_set}\\Control\\Windows"))? {
        context.last_shutdown = match typed(&key, "ShutdownTime")? {
            Some(ValueData::Binary(bytes)) | Some(ValueData::Raw { bytes, .. }) if bytes.len() == 8 => {
                let mut raw = [0u8; 8];
                raw.copy_from_slice(&bytes);
                Some(FileTime::from_u64(u64::from_le_bytes(raw))).filter(|t| !t.is_zero())
            }
            Some(ValueData::Qword(ticks)) => Some(FileTime::from_u64(ticks)).filter(|t| !t.is_zero()),
            None => None,
            Some(other) => {
                warnings.push(format!(
                    "{}\\ShutdownTime is not an 8-byte FILETIME ({}): the last shutdown is not known",
                    key.path(),
                    other.display()
                ));
                None
            }
        };
    }
    Ok(())
}

/// Reads the Windows Setup state of SYSTEM (at the hive root, whatever the control set).
pub fn read_system_setup(root: &Key<'_>, context: &mut MachineContext) -> Result<(), ReadError> {
    match root.subpath(setup::SETUP_KEY)? {
        Some(key) => WindowsSetup::read_system(&key, &mut context.windows_setup),
        None => Ok(()),
    }
}

/// Reads the SOFTWARE part of the context. Values that are there but do not hold what they
/// mean (a CurrentBuild that is no number, a UBR beyond 32 bits, an InstallDate out of range)
/// go to `warnings`, with their key, instead of reading as absent in silence.
pub fn read_software(
    root: &Key<'_>,
    context: &mut MachineContext,
    warnings: &mut Vec<String>,
) -> Result<(), ReadError> {
    context.folders = MachineFolders::read(root)?;
    if let Some(key) = root.subpath(setup::IMAGE_STATE_KEY)? {
        WindowsSetup::read_software(&key, &mut context.windows_setup)?;
    }
    let Some(key) = root.subpath("Microsoft\\Windows NT\\CurrentVersion")? else { return Ok(()) };
    let os = &mut context.os;
    os.product_name = text(&key, "ProductName")?;
    os.edition_id = text(&key, "EditionID")?;
    os.installation_type = text(&key, "InstallationType")?;
    os.display_version = text(&key, "DisplayVersion")?;
    os.release_id = text(&key, "ReleaseId")?;
    let mut unusable = |name: &str, shown: &str, meaning: &str| {
        warnings.push(format!("{}\\{name} = {shown:?} is not {meaning}: ignored", key.path()));
    };
    let (build_name, build) = match text(&key, "CurrentBuild")? {
        Some(build) => ("CurrentBuild", Some(build)),
        None => ("CurrentBuildNumber", text(&key, "CurrentBuildNumber")?),
    };
    os.current_build = build.and_then(|build| match build.trim().parse() {
        Ok(number) => Some(number),
        Err(_) => {
            unusable(build_name, &build, "a build number");
            None
        }
    });
    os.ubr = number(&key, "UBR")?.and_then(|n| match u32::try_from(n) {
        Ok(ubr) => Some(ubr),
        Err(_) => {
            unusable("UBR", &n.to_string(), "a 32-bit revision number");
            None
        }
    });
    os.install_date = number(&key, "InstallDate")?.filter(|&secs| secs > 0).and_then(|secs| {
        let date = i64::try_from(secs)
            .ok()
            .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
            .and_then(FileTime::from_datetime)
            .and_then(|t| t.to_rfc3339());
        if date.is_none() {
            unusable("InstallDate", &secs.to_string(), "a date in range");
        }
        date
    });
    Ok(())
}
