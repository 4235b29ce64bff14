//! Realistic SYSTEM and SOFTWARE hives for the benchmark, built with the project's own regf
//! writer (`tests/support/hive_writer.rs`).
//!
//! What matters for the cost of a lookup is the fan-out on the way to each indicator key (a
//! binary search reads one `nk` per probe, each usually in a different 4 KiB page) and how far
//! apart those keys lie in the file. So the paths the rules read are built as Windows 10 22H2
//! has them, with realistic sibling counts (`Microsoft` ~320 subkeys, `Windows\CurrentVersion`
//! ~140, `Services` ~620, `Component Based Servicing\Packages` 30,000), and the bulk around
//! them (`Classes`, CBS, the Installer database, `DriverDatabase`, `Enum` …) is generated with
//! the sizes real hives show, so that the file is as large and the keys as scattered as on a
//! real machine: SOFTWARE ~106 MB with ~300k keys, SYSTEM ~15 MB with ~38k keys.
//!
//! The writer lays cells out depth first, so a subtree is contiguous. Real hives that have been
//! written to for years are more fragmented; see RESULTS.md for what that means for the figures.

use std::collections::HashSet;

use crate::hive_writer::{names_equal, HiveSpec, KeySpec, ValueSpec, DEFAULT_LAST_WRITTEN, REG_NONE};
use crate::random::Rng;

pub const CBS_KEY: &str = "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing";
pub const SESSION_MANAGER_KEY: &str = "ControlSet001\\Control\\Session Manager";
pub const COMPUTER_NAME: &str = "WS-ACME-0042";

/// Sizes of the big subtrees (counts of keys directly generated; children come on top).
const CBS_PACKAGES: usize = 30_000;
const CBS_PACKAGE_DETECT: usize = 8_000;
const CBS_PACKAGE_INDEX: usize = 4_000;
const CLASSES_EXTENSIONS: usize = 4_500;
const CLASSES_PROGIDS: usize = 5_500;
const CLASSES_CLSIDS: usize = 10_000;
const CLASSES_INTERFACES: usize = 14_000;
const CLASSES_TYPELIBS: usize = 1_800;
const INSTALLER_COMPONENTS: usize = 10_000;
const SIDE_BY_SIDE_WINNERS: usize = 6_000;
const UNINSTALL_NATIVE: usize = 350;
const UNINSTALL_WOW64: usize = 250;
const MICROSOFT_SUBKEYS: usize = 320;
const CURRENT_VERSION_SUBKEYS: usize = 140;
const SERVICES: usize = 620;

/// Key and value counts of a hive, for the results file.
#[derive(Debug, Clone, Copy, Default)]
pub struct HiveStats {
    pub keys: usize,
    pub values: usize,
}

pub fn stats(spec: &HiveSpec) -> HiveStats {
    fn walk(key: &KeySpec, stats: &mut HiveStats) {
        stats.keys += 1;
        stats.values += key.values.len();
        key.subkeys.iter().for_each(|sub| walk(sub, stats));
    }
    let mut stats = HiveStats::default();
    walk(&spec.root, &mut stats);
    stats
}

// ---- building blocks -------------------------------------------------------------------------

/// The subkey called `name`, created if missing. Linear in the number of siblings: for the
/// small fan-outs of named paths only (big lists use [`add`]).
fn child<'a>(parent: &'a mut KeySpec, name: &str) -> &'a mut KeySpec {
    match parent.subkeys.iter().position(|sub| names_equal(&sub.name, name)) {
        Some(index) => &mut parent.subkeys[index],
        None => add(parent, name),
    }
}

/// A new subkey whose name the caller knows to be unique among its siblings.
fn add(parent: &mut KeySpec, name: impl Into<String>) -> &mut KeySpec {
    parent.subkeys.push(KeySpec::new(&name.into(), DEFAULT_LAST_WRITTEN));
    parent.subkeys.last_mut().expect("just pushed")
}

fn path<'a>(root: &'a mut KeySpec, path: &str) -> &'a mut KeySpec {
    path.split('\\').fold(root, child)
}

fn set(key: &mut KeySpec, value: ValueSpec) {
    key.values.push(value);
}

fn none(name: &str) -> ValueSpec {
    ValueSpec::raw(name, REG_NONE, Vec::new())
}

/// The default value (`@`) as a string.
fn default_sz(key: &mut KeySpec, text: &str) {
    set(key, ValueSpec::sz("", text));
}

/// A name not yet in `used` (case-insensitive), from `make`; retries on the rare collision of
/// random names, which the writer would reject.
fn unique(used: &mut HashSet<String>, mut make: impl FnMut() -> String) -> String {
    loop {
        let name = make();
        if used.insert(name.to_ascii_lowercase()) {
            return name;
        }
    }
}

/// Windows stores the last 31 UTF-16 units of the hive's path in the base block.
fn embedded_name(path: &str) -> String {
    let units: Vec<char> = path.chars().collect();
    units[units.len().saturating_sub(31)..].iter().collect()
}

const VENDORS: &[&str] = &[
    "Microsoft Corporation",
    "Intel Corporation",
    "Google LLC",
    "Mozilla",
    "Adobe Inc.",
    "Oracle Corporation",
    "NVIDIA Corporation",
    "Realtek Semiconductor Corp.",
    "Dell Inc.",
    "VMware, Inc.",
    "Zoom Video Communications, Inc.",
    "Citrix Systems, Inc.",
    "Python Software Foundation",
    "Notepad++ Team",
    "Cisco Systems, Inc.",
    "Logitech",
    "HP Inc.",
    "Igor Pavlov",
];

fn program_path(rng: &mut Rng) -> String {
    format!("C:\\Program Files\\{}\\{}\\{}.exe", rng.pick(VENDORS), rng.camel(2), rng.word())
}

fn system_dll(rng: &mut Rng) -> String {
    format!("%SystemRoot%\\System32\\{}{}.dll", rng.word().to_ascii_lowercase(), rng.range(1, 99))
}

fn version(rng: &mut Rng) -> String {
    format!("{}.{}.{}.{}", rng.range(1, 20), rng.range(0, 10), rng.range(0, 30000), rng.range(0, 999))
}

/// `count` values of the mix generic keys hold: mostly DWORDs and short strings, some paths,
/// small binaries, string lists and QWORDs.
fn typical_values(rng: &mut Rng, key: &mut KeySpec, count: usize) {
    for index in 0..count {
        let name = format!("{}{index}", rng.camel(2));
        let value = match rng.range(0, 20) {
            0..=7 => ValueSpec::dword(&name, rng.range(0, 5000) as u32),
            8..=12 => ValueSpec::sz(&name, &format!("{} {}", rng.camel(2), version(rng))),
            13..=15 => ValueSpec::expand_sz(&name, &system_dll(rng)),
            16..=17 => {
                let len = rng.range(8, 240);
                ValueSpec::binary(&name, &rng.bytes(len))
            }
            18 => {
                let items: Vec<String> = (0..rng.range(2, 7)).map(|_| rng.camel(2)).collect();
                let items: Vec<&str> = items.iter().map(String::as_str).collect();
                ValueSpec::multi_sz(&name, &items)
            }
            _ => ValueSpec::qword(&name, rng.next_u64() >> 8),
        };
        set(key, value);
    }
}

/// A generic subtree of about `keys` keys below `key`, at most `depth` levels deep, each key
/// with 0–7 values. Call once per key: names are unique within one call.
fn filler(rng: &mut Rng, key: &mut KeySpec, keys: usize, depth: u32) {
    if keys == 0 || depth == 0 {
        return;
    }
    let fan = if depth == 1 { keys } else { rng.range(2, 24).min(keys) };
    let mut rest = keys - fan;
    for index in 0..fan {
        let left = fan - index;
        let share = if left == 1 { rest } else { rng.range(0, 2 * rest / left + 1).min(rest) };
        rest -= share;
        let sub = add(key, format!("{}{index}", rng.camel(2)));
        let values = rng.range(0, 8);
        typical_values(rng, sub, values);
        filler(rng, sub, share, depth - 1);
    }
}

/// A key with `count` extra generic siblings, each a small generic subtree of up to `max_keys`.
fn generic_children(rng: &mut Rng, key: &mut KeySpec, count: usize, max_keys: usize) {
    for index in 0..count {
        let sub = add(key, format!("{}{index}", rng.camel(2)));
        let values = rng.range(0, 6);
        typical_values(rng, sub, values);
        let keys = rng.range(0, max_keys);
        filler(rng, sub, keys, 3);
    }
}

// ---- SOFTWARE --------------------------------------------------------------------------------

/// A clean Windows 10 22H2 SOFTWARE hive: nothing pending.
pub fn software(rng: &mut Rng) -> HiveSpec {
    let mut spec = HiveSpec::new("CMI-CreateHive{199DAFC2-6F16-4946-BF90-5A3FC3A60902}");
    spec.embedded_file_name = embedded_name("\\SystemRoot\\System32\\Config\\SOFTWARE");
    let root = &mut spec.root;

    classes(rng, child(root, "Classes"));
    filler(rng, child(root, "Clients"), 150, 4);
    typical_values(rng, child(root, "DefaultUserEnvironment"), 12);
    for vendor in ["Google", "Intel", "Mozilla", "Adobe", "Realtek", "NVIDIA Corporation", "Python", "Oracle"] {
        let keys = rng.range(100, 600);
        filler(rng, child(root, vendor), keys, 5);
    }
    microsoft(rng, child(root, "Microsoft"), false);
    filler(rng, child(root, "ODBC"), 80, 3);
    child(root, "OEM");
    child(root, "Partner");
    filler(rng, child(root, "Policies"), 300, 5);
    let registered = child(root, "RegisteredApplications");
    for index in 0..60 {
        let name = format!("{}{index}", rng.camel(2));
        let target = format!("Software\\Clients\\{}\\Capabilities", rng.camel(2));
        set(registered, ValueSpec::sz(&name, &target));
    }
    typical_values(rng, child(root, "Setup"), 6);
    filler(rng, child(root, "VMware, Inc."), 120, 4);

    let wow = child(root, "WOW6432Node");
    microsoft(rng, child(wow, "Microsoft"), true);
    for vendor in ["Google", "Intel", "Mozilla", "Adobe", "Oracle"] {
        let keys = rng.range(50, 300);
        filler(rng, child(wow, vendor), keys, 4);
    }
    spec
}

fn classes(rng: &mut Rng, classes: &mut KeySpec) {
    for name in ["*", "AllFilesystemObjects", "Directory", "Drive", "Folder"] {
        filler(rng, child(classes, name), 60, 4);
    }
    filler(rng, child(classes, "SystemFileAssociations"), 400, 4);
    filler(rng, child(classes, "Local Settings"), 200, 4);

    for index in 0..CLASSES_EXTENSIONS {
        let stem: String = rng.word().to_ascii_lowercase().chars().take(3).collect();
        let key = add(classes, format!(".{stem}{index}"));
        default_sz(key, &format!("{}.File.{index}", rng.camel(2)));
        if rng.chance(30) {
            set(key, ValueSpec::sz("Content Type", &format!("application/x-{}", rng.word().to_ascii_lowercase())));
        }
        if rng.chance(20) {
            set(key, ValueSpec::sz("PerceivedType", rng.pick(&["text", "image", "audio", "video", "document"])));
        }
        if rng.chance(70) {
            let open_with = add(key, "OpenWithProgids");
            for other in 0..rng.range(1, 4) {
                set(open_with, none(&format!("{}.File.{other}", rng.camel(2))));
            }
        }
        if rng.chance(5) {
            set(add(key, "ShellNew"), ValueSpec::sz("NullFile", ""));
        }
    }

    for index in 0..CLASSES_PROGIDS {
        let key = add(classes, format!("{}.{}.{index}", rng.word(), rng.camel(2)));
        default_sz(key, &format!("{} {} Object", rng.camel(2), rng.word()));
        if rng.chance(60) {
            let guid = rng.guid();
            default_sz(add(key, "CLSID"), &guid);
        }
        if rng.chance(25) {
            default_sz(add(key, "CurVer"), &format!("{}.{}", rng.camel(2), rng.range(1, 20)));
        }
        if rng.chance(50) {
            let icon = format!("{},-{}", system_dll(rng), rng.range(1, 300));
            set(add(key, "DefaultIcon"), ValueSpec::expand_sz("", &icon));
        }
        if rng.chance(50) {
            let command = add(add(add(key, "shell"), "open"), "command");
            default_sz(command, &format!("\"{}\" \"%1\"", program_path(rng)));
        }
    }

    let clsid = child(classes, "CLSID");
    com_classes(rng, clsid, CLASSES_CLSIDS);
    let interfaces = child(classes, "Interface");
    com_interfaces(rng, interfaces, CLASSES_INTERFACES);
    let typelibs = child(classes, "TypeLib");
    type_libraries(rng, typelibs, CLASSES_TYPELIBS);
    let app_ids = child(classes, "AppID");
    for index in 0..1_400 {
        let name = if index < 1_200 { rng.guid() } else { format!("{}{index}.exe", rng.word()) };
        let key = add(app_ids, name);
        default_sz(key, &format!("{} {}", rng.camel(2), rng.word()));
        if rng.chance(20) {
            let len = rng.range(80, 130);
            set(key, ValueSpec::binary("LaunchPermission", &rng.bytes(len)));
        }
        if rng.chance(10) {
            set(key, ValueSpec::sz("DllSurrogate", ""));
        }
    }

    // The Windows Installer's advertised products, features and components.
    let installer = child(classes, "Installer");
    let products = child(installer, "Products");
    for _ in 0..300 {
        let key = add(products, rng.hex(32));
        set(key, ValueSpec::sz("ProductName", &format!("{} {}", rng.camel(2), rng.word())));
        set(key, ValueSpec::sz("PackageCode", &rng.hex(32)));
        set(key, ValueSpec::dword("Language", 1033));
        set(key, ValueSpec::dword("Version", rng.next_u64() as u32));
        set(key, ValueSpec::dword("Assignment", 1));
        set(key, ValueSpec::dword("AdvertiseFlags", 388));
        set(key, ValueSpec::dword("InstanceType", 0));
        set(key, ValueSpec::multi_sz("Clients", &[":"]));
        let source_list = add(key, "SourceList");
        set(source_list, ValueSpec::sz("PackageName", &format!("{}.msi", rng.camel(2))));
        set(
            source_list,
            ValueSpec::expand_sz("LastUsedSource", &format!("n;1;C:\\ProgramData\\Package Cache\\{}\\", rng.guid())),
        );
        typical_values(rng, add(source_list, "Media"), 2);
        set(
            add(source_list, "Net"),
            ValueSpec::expand_sz("1", &format!("C:\\ProgramData\\Package Cache\\{}\\", rng.guid())),
        );
    }
    let features = child(installer, "Features");
    for _ in 0..300 {
        let key = add(features, rng.hex(32));
        for index in 0..rng.range(3, 30) {
            set(key, ValueSpec::sz(&format!("{}{index}", rng.camel(2)), ""));
        }
    }
    let components = child(installer, "Components");
    for _ in 0..INSTALLER_COMPONENTS * 4 / 5 {
        let key = add(components, rng.hex(32));
        set(key, ValueSpec::sz(&rng.hex(32), &format!("{}{}", rng.camel(2), rng.range(0, 9))));
    }
    let upgrade_codes = child(installer, "UpgradeCodes");
    for _ in 0..300 {
        set(add(upgrade_codes, rng.hex(32)), none(&rng.hex(32)));
    }

    // The WOW64 view of COM registration.
    let wow = child(classes, "Wow6432Node");
    com_classes(rng, child(wow, "CLSID"), 3_000);
    com_interfaces(rng, child(wow, "Interface"), 2_000);
    type_libraries(rng, child(wow, "TypeLib"), 500);
    filler(rng, child(wow, "AppID"), 300, 1);
}

fn com_classes(rng: &mut Rng, clsid: &mut KeySpec, count: usize) {
    for _ in 0..count {
        let key = add(clsid, rng.guid());
        default_sz(key, &format!("{} Class", rng.camel(2)));
        if rng.chance(85) {
            let server = add(key, "InprocServer32");
            set(server, ValueSpec::expand_sz("", &system_dll(rng)));
            set(server, ValueSpec::sz("ThreadingModel", rng.pick(&["Both", "Apartment", "Free", "Neutral"])));
        } else {
            let path = program_path(rng);
            default_sz(add(key, "LocalServer32"), &path);
        }
        if rng.chance(30) {
            default_sz(add(key, "ProgID"), &format!("{}.{}.1", rng.word(), rng.camel(2)));
        }
        if rng.chance(20) {
            default_sz(add(key, "VersionIndependentProgID"), &format!("{}.{}", rng.word(), rng.camel(2)));
        }
        if rng.chance(15) {
            let guid = rng.guid();
            default_sz(add(key, "TypeLib"), &guid);
        }
        if rng.chance(10) {
            let categories = add(key, "Implemented Categories");
            for _ in 0..rng.range(1, 4) {
                add(categories, rng.guid());
            }
        }
        if rng.chance(15) {
            let guid = rng.guid();
            set(key, ValueSpec::sz("AppID", &guid));
        }
    }
}

fn com_interfaces(rng: &mut Rng, interfaces: &mut KeySpec, count: usize) {
    for _ in 0..count {
        let key = add(interfaces, rng.guid());
        default_sz(key, &format!("I{}", rng.camel(2)));
        let stub = rng.guid();
        default_sz(add(key, "ProxyStubClsid32"), &stub);
        if rng.chance(70) {
            default_sz(add(key, "NumMethods"), &rng.range(3, 60).to_string());
        }
        if rng.chance(30) {
            let typelib = add(key, "TypeLib");
            let guid = rng.guid();
            default_sz(typelib, &guid);
            set(typelib, ValueSpec::sz("Version", "1.0"));
        }
        if rng.chance(20) {
            let guid = rng.guid();
            default_sz(add(key, "ProxyStubClsid"), &guid);
        }
    }
}

fn type_libraries(rng: &mut Rng, typelibs: &mut KeySpec, count: usize) {
    for _ in 0..count {
        let key = add(typelibs, rng.guid());
        let version = add(key, format!("{}.{}", rng.range(1, 9), rng.range(0, 9)));
        default_sz(version, &format!("{} {} Type Library", rng.camel(2), rng.word()));
        let locale = add(version, "0");
        let dll = system_dll(rng);
        default_sz(add(locale, "win32"), &dll);
        if rng.chance(50) {
            default_sz(add(locale, "win64"), &dll);
        }
        default_sz(add(version, "FLAGS"), "0");
        default_sz(add(version, "HELPDIR"), "%SystemRoot%\\System32");
    }
}

/// `Microsoft`, native or (smaller) under `WOW6432Node`, with every key the SOFTWARE rules read.
fn microsoft(rng: &mut Rng, microsoft: &mut KeySpec, wow64: bool) {
    let windows = child(microsoft, "Windows");
    current_version(rng, child(windows, "CurrentVersion"), wow64);
    for name in ["Windows Error Reporting", "Windows Search", "Shell", "DWM", "ScheduledDiagnostics", "TabletPC"] {
        let keys = rng.range(10, 200);
        filler(rng, child(windows, name), keys, 4);
    }
    generic_children(rng, windows, if wow64 { 30 } else { 90 }, 40);

    let nt = child(microsoft, "Windows NT");
    nt_current_version(rng, child(nt, "CurrentVersion"), wow64);

    if !wow64 {
        let update = child(microsoft, "WindowsUpdate");
        let ux = child(update, "UX");
        typical_values(rng, child(ux, "Settings"), 12);
        let state = child(ux, "StateVariables");
        set(state, ValueSpec::dword("RebootRequired", 0));
        typical_values(rng, state, 6);
        typical_values(rng, child(update, "Orchestrator"), 8);
        filler(rng, child(microsoft, "PolicyManager"), 6_000, 5);
        filler(rng, child(microsoft, "Tracing"), 300, 1);
        let app_v = child(microsoft, "AppV");
        filler(rng, child(app_v, "Client"), 120, 3);
    }
    for name in [
        ".NETFramework",
        "Active Setup",
        "Cryptography",
        "DirectX",
        "EdgeUpdate",
        "Internet Explorer",
        "Office",
        "Ole",
        "Rpc",
        "SecurityManager",
        "Speech",
        "SystemCertificates",
        "Wbem",
        "Windows Defender",
        "WindowsRuntime",
    ] {
        let keys = rng.range(50, if wow64 { 200 } else { 500 });
        filler(rng, child(microsoft, name), keys, 5);
    }
    let named = microsoft.subkeys.len();
    let total = if wow64 { MICROSOFT_SUBKEYS / 2 } else { MICROSOFT_SUBKEYS };
    generic_children(rng, microsoft, total.saturating_sub(named), if wow64 { 30 } else { 50 });
}

fn current_version(rng: &mut Rng, cv: &mut KeySpec, wow64: bool) {
    set(cv, ValueSpec::sz("ProgramFilesDir", "C:\\Program Files"));
    set(cv, ValueSpec::sz("CommonFilesDir", "C:\\Program Files\\Common Files"));
    typical_values(rng, cv, 8);
    let uninstall = child(cv, "Uninstall");
    uninstall_entries(rng, uninstall, if wow64 { UNINSTALL_WOW64 } else { UNINSTALL_NATIVE });
    child(cv, "RunOnce");
    let run = child(cv, "Run");
    for index in 0..4 {
        let path = program_path(rng);
        set(run, ValueSpec::sz(&format!("{}{index}", rng.camel(2)), &format!("\"{path}\" /background")));
    }
    if !wow64 {
        component_based_servicing(rng, child(cv, "Component Based Servicing"));
        installer_database(rng, child(cv, "Installer"));
        side_by_side(rng, child(cv, "SideBySide"));
        event_publishers(rng, child(cv, "WINEVT"));
        windows_update(rng, child(cv, "WindowsUpdate"));
        filler(rng, child(cv, "Explorer"), 2_500, 5);
        filler(rng, child(cv, "Appx"), 3_000, 5);
        let app_paths = child(cv, "App Paths");
        for index in 0..150 {
            let key = add(app_paths, format!("{}{index}.exe", rng.word()));
            let path = program_path(rng);
            default_sz(key, &path);
            set(key, ValueSpec::sz("Path", path.rsplit_once('\\').map_or("", |(dir, _)| dir)));
        }
    }
    for name in [
        "Authentication",
        "Policies",
        "Setup",
        "Shell Extensions",
        "Group Policy",
        "Reliability",
        "Internet Settings",
        "OOBE",
        "CloudStore",
        "CapabilityAccessManager",
        "Telephony",
        "Themes",
    ] {
        let keys = rng.range(10, if wow64 { 60 } else { 400 });
        filler(rng, child(cv, name), keys, 4);
    }
    let named = cv.subkeys.len();
    let total = if wow64 { CURRENT_VERSION_SUBKEYS / 2 } else { CURRENT_VERSION_SUBKEYS };
    generic_children(rng, cv, total.saturating_sub(named), 60);
}

fn uninstall_entries(rng: &mut Rng, uninstall: &mut KeySpec, count: usize) {
    for index in 0..count {
        let msi = rng.chance(60);
        let product_code = rng.guid();
        let name = if msi { product_code.clone() } else { format!("{} {} {index}", rng.camel(2), rng.word()) };
        let key = add(uninstall, name);
        let vendor = rng.pick(VENDORS);
        let version = version(rng);
        let location = format!("C:\\Program Files\\{vendor}\\{}\\", rng.camel(2));
        set(key, ValueSpec::sz("DisplayName", &format!("{} {} {}", rng.camel(2), rng.word(), version)));
        set(key, ValueSpec::sz("DisplayVersion", &version));
        set(key, ValueSpec::sz("Publisher", vendor));
        set(key, ValueSpec::sz("InstallDate", &format!("2023{:02}{:02}", rng.range(1, 13), rng.range(1, 29))));
        set(key, ValueSpec::sz("InstallLocation", &location));
        set(key, ValueSpec::dword("EstimatedSize", rng.range(100, 900_000) as u32));
        if msi {
            let cache = format!("C:\\ProgramData\\Package Cache\\{product_code}v{version}\\");
            set(key, ValueSpec::sz("InstallSource", &cache));
            set(key, ValueSpec::expand_sz("ModifyPath", &format!("MsiExec.exe /X{product_code}")));
            set(key, ValueSpec::expand_sz("UninstallString", &format!("MsiExec.exe /X{product_code}")));
            for name in
                ["AuthorizedCDFPrefix", "Comments", "Contact", "HelpTelephone", "Readme", "Size", "URLUpdateInfo"]
            {
                set(key, ValueSpec::sz(name, ""));
            }
            set(key, ValueSpec::dword("Language", 1033));
            set(key, ValueSpec::dword("Version", rng.next_u64() as u32));
            set(key, ValueSpec::dword("VersionMajor", rng.range(1, 20) as u32));
            set(key, ValueSpec::dword("VersionMinor", rng.range(0, 10) as u32));
            set(key, ValueSpec::dword("WindowsInstaller", 1));
            set(key, ValueSpec::dword("sEstimatedSize2", rng.range(100, 900_000) as u32));
        } else {
            set(key, ValueSpec::sz("UninstallString", &format!("\"{location}uninstall.exe\"")));
            set(key, ValueSpec::sz("QuietUninstallString", &format!("\"{location}uninstall.exe\" /S")));
        }
        if rng.chance(50) {
            set(key, ValueSpec::sz("DisplayIcon", &format!("{location}{}.exe,0", rng.word())));
        }
        if rng.chance(40) {
            set(key, ValueSpec::sz("HelpLink", &format!("https://support.example.com/{}", rng.camel(2))));
            set(key, ValueSpec::sz("URLInfoAbout", &format!("https://www.example.com/{}", rng.camel(2))));
        }
        set(key, ValueSpec::dword("NoModify", 1));
        if rng.chance(50) {
            set(key, ValueSpec::dword("NoRepair", 1));
        }
    }
}

/// A CBS package name of one of the families a servicing stack records.
fn package_name(rng: &mut Rng, index: usize) -> String {
    const LANGUAGES: &[&str] = &["", "", "", "en-US", "de-DE", "fr-FR"];
    match rng.range(0, 10) {
        0 => format!("Package_for_KB{}~31bf3856ad364e35~amd64~~10.0.1.{}", 5_000_000 + index, rng.range(1, 20)),
        1..=4 => format!(
            "Package_{}_for_KB{}~31bf3856ad364e35~amd64~~10.0.1.{}",
            rng.range(1, 3000),
            5_000_000 + index,
            rng.range(1, 20)
        ),
        _ => format!(
            "Microsoft-Windows-{}-Package~31bf3856ad364e35~amd64~{}~10.0.19041.{index}",
            rng.camel(2),
            rng.pick(LANGUAGES)
        ),
    }
}

fn component_based_servicing(rng: &mut Rng, cbs: &mut KeySpec) {
    set(cbs, ValueSpec::dword("ExecuteState", 0xFFFF_FFFF));
    set(cbs, ValueSpec::binary("LastTrustTime", &DEFAULT_LAST_WRITTEN.to_le_bytes()));
    typical_values(rng, cbs, 4);

    let packages = child(cbs, "Packages");
    for index in 0..CBS_PACKAGES {
        let name = package_name(rng, index);
        let kb = 5_000_000 + index;
        let download = format!(
            "\\\\?\\C:\\Windows\\SoftwareDistribution\\Download\\{}\\Windows10.0-KB{kb}-x64.cab",
            rng.hex(32).to_ascii_lowercase()
        );
        let install_time = DEFAULT_LAST_WRITTEN - rng.range(0, 1_000_000) as u64 * 10_000_000;
        let key = add(packages, name.clone());
        set(key, ValueSpec::dword("CurrentState", if rng.chance(95) { 0x70 } else { 0x50 }));
        let client = rng.pick(&["UpdateAgentLCU", "WindowsUpdateAgent", "DISM Package Manager Provider"]);
        set(key, ValueSpec::sz("InstallClient", client));
        set(key, ValueSpec::sz("InstallLocation", &download));
        set(key, ValueSpec::sz("InstallName", &format!("{name}.mum")));
        set(key, ValueSpec::dword("InstallTimeHigh", (install_time >> 32) as u32));
        set(key, ValueSpec::dword("InstallTimeLow", install_time as u32));
        set(key, ValueSpec::sz("InstallUser", "S-1-5-18"));
        set(key, ValueSpec::dword("SelfUpdate", 0));
        set(key, ValueSpec::dword("Visibility", if rng.chance(70) { 2 } else { 1 }));
        set(add(key, "Owners"), ValueSpec::dword(&name, 0x0020_0070));
    }

    let detect = child(cbs, "PackageDetect");
    for index in 0..CBS_PACKAGE_DETECT {
        let key =
            add(detect, format!("Microsoft-Windows-{}-Package~31bf3856ad364e35~amd64~~0.0.{index}", rng.camel(2)));
        for _ in 0..rng.range(1, 4) {
            let owner_index = rng.range(0, CBS_PACKAGES);
            let owner = package_name(rng, owner_index);
            if !key.values.iter().any(|v| names_equal(&v.name, &owner)) {
                set(key, ValueSpec::dword(&owner, 0));
            }
        }
    }
    let index_key = child(cbs, "PackageIndex");
    for index in 0..CBS_PACKAGE_INDEX {
        let key =
            add(index_key, format!("Microsoft-Windows-{}-Package~31bf3856ad364e35~amd64~~0.0.0.{index}", rng.camel(2)));
        let member_index = rng.range(0, CBS_PACKAGES);
        let member = package_name(rng, member_index);
        set(key, none(&member));
    }
    let sessions = child(cbs, "SessionsPending");
    set(sessions, ValueSpec::dword("Exclusive", 0));
    set(sessions, ValueSpec::dword("TotalSessionPhases", 0));
    set(
        child(cbs, "Version"),
        ValueSpec::expand_sz(
            "10.0.19041.3636",
            "%SystemRoot%\\WinSxS\\amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.19041.3636_none_7e2a2d4b4a2a3c3c",
        ),
    );
    filler(rng, child(cbs, "ApplicabilityEvaluationCache"), 600, 1);
    filler(rng, child(cbs, "ComponentDetect"), 2_000, 1);
    for name in ["CatalogsToUninstall", "CustomInstallers", "DriverOperations", "Notify", "Winners"] {
        let keys = rng.range(5, 60);
        filler(rng, child(cbs, name), keys, 2);
    }
}

fn installer_database(rng: &mut Rng, installer: &mut KeySpec) {
    let user_data = path(installer, "UserData\\S-1-5-18");
    let components = child(user_data, "Components");
    for _ in 0..INSTALLER_COMPONENTS {
        let key = add(components, rng.hex(32));
        for _ in 0..rng.range(1, 3) {
            let path = program_path(rng);
            set(key, ValueSpec::sz(&rng.hex(32), &path));
        }
    }
    let products = child(user_data, "Products");
    for _ in 0..300 {
        let key = add(products, rng.hex(32));
        let properties = add(key, "InstallProperties");
        for name in ["DisplayName", "DisplayVersion", "Publisher", "InstallLocation", "InstallSource", "LocalPackage"] {
            let text = program_path(rng);
            set(properties, ValueSpec::sz(name, &text));
        }
        typical_values(rng, properties, 10);
        typical_values(rng, add(key, "Features"), 8);
        add(key, "Patches");
        typical_values(rng, add(key, "Usage"), 4);
    }
    let folders = child(installer, "Folders");
    for index in 0..800 {
        let folder = format!("C:\\Program Files\\{}\\{}{index}\\", rng.pick(VENDORS), rng.camel(2));
        set(folders, ValueSpec::sz(&folder, ""));
    }
}

fn side_by_side(rng: &mut Rng, sxs: &mut KeySpec) {
    let winners = child(sxs, "Winners");
    for index in 0..SIDE_BY_SIDE_WINNERS {
        let name = format!(
            "amd64_microsoft-windows-{}_31bf3856ad364e35_none_{}{index}",
            rng.camel(2).to_ascii_lowercase(),
            rng.hex(8).to_ascii_lowercase()
        );
        let key = add(winners, name);
        let version = add(key, "10.0");
        let full = format!("10.0.19041.{}", rng.range(1, 4000));
        default_sz(version, &full);
        set(version, ValueSpec::binary(&full, &[1]));
    }
    typical_values(rng, sxs, 6);
}

/// The SDDL an event log channel's `ChannelAccess` holds by default.
const CHANNEL_ACCESS: &str = "O:BAG:SYD:(A;;0xf0007;;;SY)(A;;0x7;;;BA)(A;;0x3;;;BO)(A;;0x5;;;SO)(A;;0x1;;;IU)\
                              (A;;0x3;;;SU)(A;;0x1;;;S-1-5-3)(A;;0x2;;;S-1-5-33)(A;;0x1;;;S-1-5-32-573)";

fn event_publishers(rng: &mut Rng, winevt: &mut KeySpec) {
    let publishers = child(winevt, "Publishers");
    for _ in 0..1_100 {
        let key = add(publishers, rng.guid());
        default_sz(key, &format!("Microsoft-Windows-{}", rng.camel(2)));
        set(key, ValueSpec::expand_sz("ResourceFileName", &system_dll(rng)));
        set(key, ValueSpec::expand_sz("MessageFileName", &system_dll(rng)));
        set(key, ValueSpec::dword("Enabled", 1));
        if rng.chance(60) {
            let references = add(key, "ChannelReferences");
            let count = rng.range(1, 4);
            set(references, ValueSpec::dword("Count", count as u32));
            for index in 0..count {
                let channel = add(references, index.to_string());
                default_sz(channel, &format!("Microsoft-Windows-{}/Operational", rng.camel(2)));
                set(channel, ValueSpec::dword("Id", 16 + index as u32));
                set(channel, ValueSpec::dword("Flags", 0));
            }
        }
    }
    let channels = child(winevt, "Channels");
    for index in 0..1_200 {
        let key = add(channels, format!("Microsoft-Windows-{}/Operational{index}", rng.camel(2)));
        let owner = rng.guid();
        set(key, ValueSpec::sz("OwningPublisher", &owner));
        set(key, ValueSpec::dword("Enabled", rng.range(0, 2) as u32));
        set(key, ValueSpec::dword("Isolation", 0));
        set(key, ValueSpec::sz("ChannelAccess", CHANNEL_ACCESS));
        set(key, ValueSpec::dword("Type", 1));
    }
}

fn windows_update(rng: &mut Rng, update: &mut KeySpec) {
    let auto_update = child(update, "Auto Update");
    typical_values(rng, auto_update, 10);
    for phase in ["Detect", "Download", "Install"] {
        set(path(auto_update, &format!("Results\\{phase}")), ValueSpec::sz("LastSuccessTime", "2024-01-01 08:00:00"));
    }
    let categories = child(auto_update, "RequestedAppCategories");
    let guid = rng.guid();
    add(categories, guid);
    let services = child(update, "Services");
    typical_values(rng, child(services, "{7971F918-A847-4430-9279-4A52D1EFE18D}"), 6);
    typical_values(rng, child(update, "Orchestrator"), 5);
}

fn nt_current_version(rng: &mut Rng, cv: &mut KeySpec, wow64: bool) {
    for (name, text) in [
        ("ProductName", "Windows 10 Pro"),
        ("EditionID", "Professional"),
        ("CompositionEditionID", "Enterprise"),
        ("InstallationType", "Client"),
        ("CurrentBuild", "19045"),
        ("CurrentBuildNumber", "19045"),
        ("CurrentVersion", "6.3"),
        ("DisplayVersion", "22H2"),
        ("ReleaseId", "2009"),
        ("BuildBranch", "vb_release"),
        ("BuildLab", "19041.vb_release.191206-1406"),
        ("BuildLabEx", "19041.1.amd64fre.vb_release.191206-1406"),
        ("RegisteredOwner", "ACME IT"),
        ("RegisteredOrganization", "ACME"),
        ("SystemRoot", "C:\\WINDOWS"),
        ("PathName", "C:\\WINDOWS"),
        ("SoftwareType", "System"),
        ("ProductId", "00330-80000-00000-AA123"),
    ] {
        set(cv, ValueSpec::sz(name, text));
    }
    set(cv, ValueSpec::dword("UBR", 4291));
    set(cv, ValueSpec::dword("InstallDate", 1_700_000_000));
    set(cv, ValueSpec::qword("InstallTime", DEFAULT_LAST_WRITTEN));
    set(cv, ValueSpec::dword("CurrentMajorVersionNumber", 10));
    set(cv, ValueSpec::dword("CurrentMinorVersionNumber", 0));
    set(cv, ValueSpec::binary("DigitalProductId", &rng.bytes(164)));
    set(cv, ValueSpec::binary("DigitalProductId4", &rng.bytes(1272)));
    if wow64 {
        generic_children(rng, cv, 20, 20);
        return;
    }

    // Performance counter names: two big string lists, stored as `db` big data.
    let perflib = path(cv, "Perflib\\009");
    let counters: Vec<String> = (0..4_000).flat_map(|i| [(2 * i).to_string(), rng.camel(3)]).collect();
    let counters: Vec<&str> = counters.iter().map(String::as_str).collect();
    set(perflib, ValueSpec::multi_sz("Counter", &counters));
    let help: Vec<String> = (0..4_000)
        .flat_map(|i| {
            [
                (2 * i + 1).to_string(),
                format!("{} counts {} per second for the {}.", rng.camel(2), rng.word(), rng.camel(2)),
            ]
        })
        .collect();
    let help: Vec<&str> = help.iter().map(String::as_str).collect();
    set(perflib, ValueSpec::multi_sz("Help", &help));

    let fonts = child(cv, "Fonts");
    for index in 0..300 {
        set(
            fonts,
            ValueSpec::sz(&format!("{} {index} (TrueType)", rng.camel(2)), &format!("{}{index}.ttf", rng.word())),
        );
    }
    let profiles = child(cv, "ProfileList");
    for index in 0..6 {
        let key = add(
            profiles,
            format!(
                "S-1-5-21-{}-{}-{}-{}",
                rng.range(1, 1 << 30),
                rng.range(1, 1 << 30),
                rng.range(1, 1 << 30),
                1000 + index
            ),
        );
        set(key, ValueSpec::expand_sz("ProfileImagePath", &format!("C:\\Users\\{}", rng.word())));
        set(key, ValueSpec::binary("Sid", &rng.bytes(28)));
        typical_values(rng, key, 6);
    }
    let tasks = path(cv, "Schedule\\TaskCache\\Tasks");
    for _ in 0..180 {
        let key = add(tasks, rng.guid());
        set(key, ValueSpec::sz("Path", &format!("\\Microsoft\\Windows\\{}\\{}", rng.camel(2), rng.camel(2))));
        let (actions, triggers) = (rng.range(100, 600), rng.range(40, 300));
        set(key, ValueSpec::binary("Actions", &rng.bytes(actions)));
        set(key, ValueSpec::binary("Triggers", &rng.bytes(triggers)));
        set(key, ValueSpec::binary("DynamicInfo", &rng.bytes(28)));
        set(key, ValueSpec::binary("Hash", &rng.bytes(32)));
        set(key, ValueSpec::sz("URI", &format!("\\Microsoft\\Windows\\{}", rng.camel(2))));
    }
    filler(rng, path(cv, "Schedule\\TaskCache\\Tree"), 250, 4);
    filler(rng, child(cv, "AppCompatFlags"), 800, 4);
    filler(rng, child(cv, "Image File Execution Options"), 80, 1);
    let svchost = child(cv, "Svchost");
    for index in 0..50 {
        let services: Vec<String> = (0..rng.range(1, 12)).map(|_| rng.word().to_ascii_lowercase()).collect();
        let services: Vec<&str> = services.iter().map(String::as_str).collect();
        set(svchost, ValueSpec::multi_sz(&format!("{}{index}", rng.camel(2)), &services));
    }
    let time_zones = child(cv, "Time Zones");
    for index in 0..140 {
        let key = add(time_zones, format!("{} {} Standard Time {index}", rng.word(), rng.word()));
        set(key, ValueSpec::sz("Display", &format!("(UTC+{:02}:00) {}", index % 14, rng.camel(2))));
        set(key, ValueSpec::sz("Dlt", "Daylight Time"));
        set(key, ValueSpec::sz("Std", "Standard Time"));
        set(key, ValueSpec::sz("MUI_Display", "@tzres.dll,-110"));
        set(key, ValueSpec::binary("TZI", &rng.bytes(44)));
        if rng.chance(30) {
            typical_values(rng, add(key, "Dynamic DST"), 5);
        }
    }
    typical_values(rng, child(cv, "Winlogon"), 30);
    filler(rng, child(cv, "NetworkList"), 40, 3);
    filler(rng, child(cv, "SoftwareProtectionPlatform"), 30, 2);
    generic_children(rng, cv, 40, 30);
}

/// Packages `make_software_pending` leaves waiting for the reboot: the cumulative update and
/// four others that CBS's records do not name.
pub const SOFTWARE_PENDING_PACKAGES: usize = 5;

/// Turns a clean SOFTWARE into one where servicing waits for a reboot, as after a cumulative
/// update installed without restarting: CBS `RebootPending`, `PackagesPending`, an incomplete
/// session, `ExecuteState` busy, a few packages in Install Pending, and the UX flag.
pub fn make_software_pending(spec: &mut HiveSpec) {
    let rollup = "Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.4291.1.10";
    spec.set_value(CBS_KEY, ValueSpec::dword("ExecuteState", 0));
    spec.set_value(&format!("{CBS_KEY}\\RebootPending\\{rollup}"), ValueSpec::dword("", 0));
    spec.set_value(&format!("{CBS_KEY}\\PackagesPending"), ValueSpec::dword(rollup, 0x60));
    let session = format!("{CBS_KEY}\\SessionsPending\\31101445_3627712451");
    spec.set_value(&session, ValueSpec::dword("Complete", 0));
    spec.set_value(&session, ValueSpec::dword("TotalSessionPhases", 2));
    spec.set_value(&session, ValueSpec::dword("LastCommittedPhase", 1));
    spec.set_value("Microsoft\\WindowsUpdate\\UX\\StateVariables", ValueSpec::dword("RebootRequired", 1));

    let packages = spec.key_mut(&format!("{CBS_KEY}\\Packages"));
    let pending = add(packages, rollup);
    set(pending, ValueSpec::dword("CurrentState", 0x60));
    set(pending, ValueSpec::sz("InstallName", &format!("{rollup}.mum")));
    set(pending, ValueSpec::dword("InstallTimeHigh", (DEFAULT_LAST_WRITTEN >> 32) as u32));
    set(pending, ValueSpec::dword("InstallTimeLow", DEFAULT_LAST_WRITTEN as u32));
    for (index, state) in [(1_234, 0x60), (9_876, 0x65), (17_001, 0x60), (25_555, 0x05)] {
        if let Some(value) =
            packages.subkeys[index].values.iter_mut().find(|value| names_equal(&value.name, "CurrentState"))
        {
            *value = ValueSpec::dword("CurrentState", state);
        }
    }
}

/// The servicing-pending SOFTWARE without CBS's records of what waits: `PackagesPending` gone
/// and `RebootPending` left as an empty key (its existence still fires the rule). rebootscan
/// then has to read every package to list the pending ones: the fallback path.
pub fn drop_servicing_records(spec: &mut HiveSpec) {
    let cbs = spec.key_mut(CBS_KEY);
    cbs.subkeys.retain(|key| !names_equal(&key.name, "PackagesPending"));
    if let Some(reboot_pending) = cbs.subkeys.iter_mut().find(|key| names_equal(&key.name, "RebootPending")) {
        reboot_pending.subkeys.clear();
        reboot_pending.values.clear();
    }
}

// ---- SYSTEM ----------------------------------------------------------------------------------

/// A clean Windows 10 22H2 SYSTEM hive with one control set: nothing pending.
pub fn system(rng: &mut Rng) -> HiveSpec {
    let mut spec = HiveSpec::new("CsiTool-CreateHive-{00000000-0000-0000-0000-000000000000}");
    spec.embedded_file_name = embedded_name("\\SystemRoot\\System32\\Config\\SYSTEM");
    let root = &mut spec.root;

    filler(rng, child(root, "ActivationBroker"), 150, 3);
    let control_set = child(root, "ControlSet001");
    control(rng, child(control_set, "Control"));
    device_enum(rng, child(control_set, "Enum"));
    filler(rng, child(control_set, "Hardware Profiles"), 8, 3);
    filler(rng, child(control_set, "Policies"), 20, 3);
    services(rng, child(control_set, "Services"));
    driver_database(rng, child(root, "DriverDatabase"));
    filler(rng, child(root, "HardwareConfig"), 20, 2);
    filler(rng, child(root, "Input"), 30, 3);
    filler(rng, child(root, "Keyboard Layout"), 8, 2);
    filler(rng, child(root, "Maps"), 5, 2);
    let mounted = child(root, "MountedDevices");
    for index in 0..16 {
        let name = if index < 4 {
            format!("\\DosDevices\\{}:", (b'C' + index as u8) as char)
        } else {
            format!("\\??\\Volume{}", rng.guid())
        };
        let len = if rng.chance(50) { 12 } else { rng.range(24, 120) };
        set(mounted, ValueSpec::binary(&name, &rng.bytes(len)));
    }
    filler(rng, child(root, "ResourceManager"), 30, 3);
    filler(rng, child(root, "ResourcePolicyStore"), 800, 4);
    let seed = child(root, "RNG");
    set(seed, ValueSpec::binary("Seed", &rng.bytes(76)));
    let select = child(root, "Select");
    for (name, number) in [("Current", 1), ("Default", 1), ("Failed", 0), ("LastKnownGood", 1)] {
        set(select, ValueSpec::dword(name, number));
    }
    let setup = child(root, "Setup");
    for name in ["OOBEInProgress", "SetupType", "SystemSetupInProgress", "RestartSetup"] {
        set(setup, ValueSpec::dword(name, 0));
    }
    set(setup, ValueSpec::sz("CmdLine", "setup -newsetup"));
    filler(rng, setup, 40, 3);
    filler(rng, child(root, "Software"), 100, 4);
    filler(rng, child(root, "State"), 20, 2);
    filler(rng, child(root, "WaaS"), 50, 3);
    let wpa = child(root, "WPA");
    for index in 0..40 {
        let key = add(wpa, format!("{}-{}-{index}", rng.hex(8), rng.hex(4)));
        for value in 0..rng.range(1, 5) {
            let len = rng.range(100, 2_000);
            set(key, ValueSpec::binary(&format!("{}{value}", rng.word()), &rng.bytes(len)));
        }
    }
    spec
}

fn control(rng: &mut Rng, control: &mut KeySpec) {
    set(control, ValueSpec::sz("CurrentUser", "USERNAME"));
    set(control, ValueSpec::sz("SystemBootDevice", "multi(0)disk(0)rdisk(0)partition(3)"));
    set(control, ValueSpec::sz("SystemStartOptions", " NOEXECUTE=OPTIN  FVEBOOT=2719744  NOVGA"));
    set(control, ValueSpec::sz("WaitToKillServiceTimeout", "5000"));
    set(control, ValueSpec::dword("BootDriverFlags", 0x1c));

    session_manager(rng, child(control, "Session Manager"));
    let computer_name = path(control, "ComputerName\\ComputerName");
    default_sz(computer_name, "mnmsrvc");
    set(computer_name, ValueSpec::sz("ComputerName", COMPUTER_NAME));
    let windows = child(control, "Windows");
    let shutdown = DEFAULT_LAST_WRITTEN - 86_400 * 10_000_000;
    set(windows, ValueSpec::binary("ShutdownTime", &shutdown.to_le_bytes()));
    set(windows, ValueSpec::dword("CSDVersion", 0));
    set(windows, ValueSpec::expand_sz("Directory", "%SystemRoot%"));
    set(windows, ValueSpec::expand_sz("SystemDirectory", "%SystemRoot%\\system32"));
    set(windows, ValueSpec::dword("ErrorMode", 0));
    set(windows, ValueSpec::dword("NoInteractiveServices", 1));

    // Device setup classes and their driver instances.
    let class = child(control, "Class");
    for _ in 0..110 {
        let key = add(class, rng.guid());
        default_sz(key, &format!("{} devices", rng.camel(2)));
        set(key, ValueSpec::sz("Class", &rng.camel(2)));
        set(key, ValueSpec::sz("ClassDesc", &format!("@{},-{}", system_dll(rng), rng.range(1, 900))));
        set(key, ValueSpec::sz("IconPath", &format!("{},-{}", system_dll(rng), rng.range(1, 900))));
        let instances = if rng.chance(40) { rng.range(1, 16) } else { 0 };
        for instance in 0..instances {
            let driver = add(key, format!("{instance:04}"));
            for name in ["DriverDesc", "DriverVersion", "InfPath", "InfSection", "MatchingDeviceId", "ProviderName"] {
                let text = format!("{} {}", rng.camel(2), rng.range(1, 500));
                set(driver, ValueSpec::sz(name, &text));
            }
            set(driver, ValueSpec::sz("DriverDate", "6-21-2006"));
            set(driver, ValueSpec::binary("DriverDateData", &rng.bytes(8)));
            typical_values(rng, driver, 6);
            if rng.chance(20) {
                filler(rng, add(driver, "Properties"), 6, 2);
            }
        }
    }

    // Device interfaces: the biggest part of Control.
    let device_classes = child(control, "DeviceClasses");
    for _ in 0..160 {
        let class_guid = rng.guid();
        let key = add(device_classes, class_guid.clone());
        for index in 0..rng.range(2, 22) {
            let interface = add(
                key,
                format!(
                    "##?#PCI#VEN_{}&DEV_{}&SUBSYS_{}#{}&0&{index:02}#{class_guid}",
                    rng.hex(4),
                    rng.hex(4),
                    rng.hex(8),
                    rng.hex(8)
                ),
            );
            set(
                interface,
                ValueSpec::sz(
                    "DeviceInstance",
                    &format!("PCI\\VEN_{}&DEV_{}\\3&{}&0", rng.hex(4), rng.hex(4), rng.hex(8)),
                ),
            );
            let hash = add(interface, "#");
            set(hash, ValueSpec::sz("SymbolicLink", &format!("\\\\?\\PCI#VEN_{}#{class_guid}", rng.hex(4))));
            if rng.chance(30) {
                typical_values(rng, add(hash, "Device Parameters"), 3);
            }
        }
    }
    filler(rng, child(control, "DeviceContainers"), 1_000, 4);

    let nls = child(control, "Nls");
    for (name, count) in [("CodePage", 160), ("Language", 230), ("Locale", 450), ("ExtendedLocale", 300)] {
        let key = child(nls, name);
        for index in 0..count {
            set(key, ValueSpec::sz(&format!("{:04x}", 0x400 + index), &format!("c_{}.nls", 1000 + index)));
        }
    }
    typical_values(rng, path(nls, "Sorting\\Versions"), 10);

    let power_settings = path(control, "Power\\PowerSettings");
    for _ in 0..450 {
        let key = add(power_settings, rng.guid());
        set(
            key,
            ValueSpec::expand_sz(
                "FriendlyName",
                &format!("@%SystemRoot%\\system32\\powrprof.dll,-{},{}", rng.range(1, 900), rng.camel(2)),
            ),
        );
        set(
            key,
            ValueSpec::expand_sz(
                "Description",
                &format!("@%SystemRoot%\\system32\\powrprof.dll,-{}", rng.range(1, 900)),
            ),
        );
        set(key, ValueSpec::dword("Attributes", 1));
        if rng.chance(40) {
            let defaults = add(key, "DefaultPowerSchemeValues");
            for _ in 0..3 {
                let scheme = add(defaults, rng.guid());
                set(scheme, ValueSpec::dword("ACSettingIndex", rng.range(0, 600) as u32));
                set(scheme, ValueSpec::dword("DCSettingIndex", rng.range(0, 600) as u32));
            }
        }
    }
    filler(rng, path(control, "Power\\User"), 50, 3);

    let options = child(control, "ProductOptions");
    set(options, ValueSpec::sz("ProductType", "WinNT"));
    set(options, ValueSpec::multi_sz("ProductSuite", &[""]));
    set(options, ValueSpec::binary("ProductPolicy", &rng.bytes(42_000)));

    let safe_boot = child(control, "SafeBoot");
    for (mode, count) in [("Minimal", 160), ("Network", 200)] {
        let key = child(safe_boot, mode);
        for index in 0..count {
            default_sz(add(key, format!("{}{index}", rng.word())), if rng.chance(50) { "Driver" } else { "Service" });
        }
    }
    let wmi = child(control, "WMI");
    let autologger = child(wmi, "Autologger");
    for index in 0..60 {
        let logger = add(autologger, format!("{}{index}", rng.camel(2)));
        typical_values(rng, logger, 10);
        for _ in 0..rng.range(0, 30) {
            let provider = add(logger, rng.guid());
            typical_values(rng, provider, 5);
        }
    }
    let wmi_security = child(wmi, "Security");
    for _ in 0..300 {
        let len = rng.range(100, 200);
        set(wmi_security, ValueSpec::binary(&rng.guid(), &rng.bytes(len)));
    }
    let layouts = child(control, "Keyboard Layouts");
    for _ in 0..200 {
        let key = add(layouts, rng.hex(8));
        set(key, ValueSpec::sz("Layout File", &format!("KBD{}.DLL", rng.word().to_ascii_uppercase())));
        set(key, ValueSpec::sz("Layout Text", &rng.camel(2)));
        set(key, ValueSpec::expand_sz("Layout Display Name", "@%SystemRoot%\\system32\\input.dll,-5000"));
    }
    let lsa = child(control, "Lsa");
    set(lsa, ValueSpec::multi_sz("Authentication Packages", &["msv1_0"]));
    set(lsa, ValueSpec::multi_sz("Notification Packages", &["scecli"]));
    set(lsa, ValueSpec::multi_sz("Security Packages", &["\"\""]));
    typical_values(rng, lsa, 20);
    filler(rng, lsa, 40, 3);
    let time_zone = child(control, "TimeZoneInformation");
    set(time_zone, ValueSpec::dword("Bias", 0xFFFF_FFC4));
    set(time_zone, ValueSpec::sz("TimeZoneKeyName", "W. Europe Standard Time"));
    set(time_zone, ValueSpec::binary("StandardStart", &rng.bytes(16)));
    set(time_zone, ValueSpec::binary("DaylightStart", &rng.bytes(16)));
    for name in [
        "Terminal Server",
        "Print",
        "Network",
        "GraphicsDrivers",
        "usbflags",
        "WDI",
        "CI",
        "MUI",
        "PnP",
        "SecurityProviders",
    ] {
        let keys = rng.range(20, 250);
        filler(rng, child(control, name), keys, 5);
    }
    let video = child(control, "Video");
    for _ in 0..12 {
        let adapter = add(video, rng.guid());
        for index in 0..2 {
            let output = add(adapter, format!("{index:04}"));
            typical_values(rng, output, 20);
        }
    }
    generic_children(rng, control, 60, 30);
}

fn session_manager(rng: &mut Rng, manager: &mut KeySpec) {
    set(manager, ValueSpec::dword("AutoChkTimeout", 10));
    set(manager, ValueSpec::multi_sz("BootExecute", &["autocheck autochk *"]));
    set(manager, ValueSpec::expand_sz("BootShell", "%SystemRoot%\\system32\\bootim.exe"));
    set(manager, ValueSpec::dword("CriticalSectionTimeout", 2_592_000));
    set(manager, ValueSpec::multi_sz("ExcludeFromKnownDlls", &[]));
    set(manager, ValueSpec::dword("GlobalFlag", 0));
    set(manager, ValueSpec::dword("GlobalFlag2", 0));
    set(manager, ValueSpec::dword("HeapDeCommitFreeBlockThreshold", 0));
    set(manager, ValueSpec::dword("HeapDeCommitTotalFreeThreshold", 0));
    set(manager, ValueSpec::dword("HeapSegmentCommit", 0));
    set(manager, ValueSpec::dword("HeapSegmentReserve", 0));
    set(manager, ValueSpec::dword("NumberOfInitialSessions", 2));
    set(manager, ValueSpec::multi_sz("ObjectDirectories", &["\\Windows", "\\RPC Control"]));
    set(manager, ValueSpec::dword("ProcessorControl", 2));
    set(manager, ValueSpec::dword("ProtectionMode", 1));
    set(manager, ValueSpec::dword("ResourceTimeoutCount", 150));
    set(manager, ValueSpec::multi_sz("RunLevelExecute", &["WinInit", "ServiceControlManager"]));
    set(manager, ValueSpec::multi_sz("RunLevelValidate", &["ServiceControlManager"]));
    // Windows keeps SetupExecute as an empty list between servicing operations.
    set(manager, ValueSpec::multi_sz("SETUPEXECUTE", &[]));

    // The shim cache: one big binary, stored as `db` big data.
    set(child(manager, "AppCompatCache"), ValueSpec::binary("AppCompatCache", &rng.bytes(350_000)));
    let configuration = child(manager, "Configuration Manager");
    typical_values(rng, configuration, 5);
    typical_values(rng, child(configuration, "LastKnownGood"), 2);
    let dos_devices = child(manager, "DOS Devices");
    for (name, target) in [
        ("AUX", "\\DosDevices\\COM1"),
        ("MAILSLOT", "\\Device\\MailSlot"),
        ("NUL", "\\Device\\Null"),
        ("PIPE", "\\Device\\NamedPipe"),
        ("PRN", "\\DosDevices\\LPT1"),
        ("UNC", "\\Device\\Mup"),
    ] {
        set(dos_devices, ValueSpec::sz(name, target));
    }
    let environment = child(manager, "Environment");
    for (name, text) in [
        ("ComSpec", "%SystemRoot%\\system32\\cmd.exe"),
        ("DriverData", "C:\\Windows\\System32\\Drivers\\DriverData"),
        ("OS", "Windows_NT"),
        (
            "Path",
            "%SystemRoot%\\system32;%SystemRoot%;%SystemRoot%\\System32\\Wbem;\
             %SYSTEMROOT%\\System32\\WindowsPowerShell\\v1.0\\;%SYSTEMROOT%\\System32\\OpenSSH\\;\
             C:\\Program Files\\Git\\cmd;C:\\Program Files\\dotnet\\;C:\\Program Files\\Microsoft SQL Server\\150\\Tools\\Binn\\",
        ),
        ("PATHEXT", ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC"),
        ("PROCESSOR_ARCHITECTURE", "AMD64"),
        ("PROCESSOR_IDENTIFIER", "Intel64 Family 6 Model 158 Stepping 10, GenuineIntel"),
        ("PSModulePath", "%ProgramFiles%\\WindowsPowerShell\\Modules;%SystemRoot%\\system32\\WindowsPowerShell\\v1.0\\Modules"),
        ("TEMP", "%SystemRoot%\\TEMP"),
        ("TMP", "%SystemRoot%\\TEMP"),
        ("USERNAME", "SYSTEM"),
        ("windir", "%SystemRoot%"),
    ] {
        set(environment, ValueSpec::expand_sz(name, text));
    }
    typical_values(rng, child(manager, "Executive"), 4);
    child(manager, "FileRenameOperations");
    typical_values(rng, child(manager, "I/O System"), 2);
    typical_values(rng, child(manager, "kernel"), 6);
    let known = child(manager, "KnownDLLs");
    for index in 0..35 {
        let dll = format!("{}{index}", rng.word().to_ascii_lowercase());
        set(known, ValueSpec::sz(&dll, &format!("{dll}.dll")));
    }
    let memory = child(manager, "Memory Management");
    set(memory, ValueSpec::multi_sz("PagingFiles", &["?:\\pagefile.sys"]));
    set(memory, ValueSpec::multi_sz("ExistingPageFiles", &["\\??\\C:\\pagefile.sys"]));
    typical_values(rng, memory, 14);
    typical_values(rng, child(memory, "PrefetchParameters"), 5);
    typical_values(rng, child(memory, "StoreParameters"), 2);
    child(manager, "Namespace Separation");
    typical_values(rng, child(manager, "Power"), 6);
    typical_values(rng, child(manager, "Quota System"), 2);
    let subsystems = child(manager, "SubSystems");
    let csrss = "%SystemRoot%\\system32\\csrss.exe ObjectDirectory=\\Windows SharedSection=1024,20480,768 \
                 Windows=On SubSystemType=Windows ServerDll=basesrv,1 ServerDll=winsrv:UserServerDllInitialization,3 \
                 ServerDll=sxssrv,4 ProfileControl=Off MaxRequestThreads=16";
    set(subsystems, ValueSpec::expand_sz("Windows", csrss));
    set(subsystems, ValueSpec::multi_sz("Optional", &[]));
    set(subsystems, ValueSpec::multi_sz("Required", &["Debug", "Windows"]));
    set(subsystems, ValueSpec::expand_sz("Kmode", "\\SystemRoot\\System32\\win32k.sys"));
    let wpa = child(manager, "WPA");
    for index in 0..8 {
        let key = add(wpa, format!("{}{index}", rng.camel(2)));
        for value in 0..rng.range(2, 4) {
            let len = rng.range(16, 400);
            set(key, ValueSpec::binary(&format!("{}{value}", rng.word()), &rng.bytes(len)));
        }
    }
}

/// Service names a Windows 10 machine has; the rest of the ~620 are generated driver names.
const SERVICE_NAMES: &[&str] = &[
    "1394ohci",
    "3ware",
    "ACPI",
    "AFD",
    "AppIDSvc",
    "Appinfo",
    "AppXSvc",
    "AudioEndpointBuilder",
    "Audiosrv",
    "BFE",
    "BITS",
    "BrokerInfrastructure",
    "Browser",
    "CDPSvc",
    "CertPropSvc",
    "CNG",
    "CryptSvc",
    "DcomLaunch",
    "Dhcp",
    "DiagTrack",
    "disk",
    "DispBrokerDesktopSvc",
    "Dnscache",
    "DoSvc",
    "DPS",
    "DsmSvc",
    "EventLog",
    "EventSystem",
    "FontCache",
    "gpsvc",
    "HvHost",
    "i8042prt",
    "iphlpsvc",
    "KSecDD",
    "LanmanServer",
    "LanmanWorkstation",
    "LicenseManager",
    "lmhosts",
    "LSM",
    "MpsSvc",
    "mountmgr",
    "MSDTC",
    "msiserver",
    "NcbService",
    "Netlogon",
    "Netman",
    "netprofm",
    "NlaSvc",
    "nsi",
    "NTFS",
    "Null",
    "partmgr",
    "PcaSvc",
    "PlugPlay",
    "Power",
    "ProfSvc",
    "RasMan",
    "RemoteRegistry",
    "RpcEptMapper",
    "RpcSs",
    "SamSs",
    "Schedule",
    "SecurityHealthService",
    "SENS",
    "ShellHWDetection",
    "Spooler",
    "SSDPSRV",
    "StateRepository",
    "StorSvc",
    "SysMain",
    "SystemEventsBroker",
    "Tcpip",
    "Tcpip6",
    "TermService",
    "Themes",
    "TimeBrokerSvc",
    "TrkWks",
    "TrustedInstaller",
    "UsoSvc",
    "VaultSvc",
    "volmgr",
    "W32Time",
    "WaaSMedicSvc",
    "WdiServiceHost",
    "WinDefend",
    "WinHttpAutoProxySvc",
    "Winmgmt",
    "WinRM",
    "WlanSvc",
    "wscsvc",
    "WSearch",
    "wuauserv",
];

fn services(rng: &mut Rng, services: &mut KeySpec) {
    let mut used: HashSet<String> = SERVICE_NAMES.iter().map(|name| name.to_ascii_lowercase()).collect();
    let mut names: Vec<String> = SERVICE_NAMES.iter().map(|name| name.to_string()).collect();
    while names.len() < SERVICES {
        let name = unique(&mut used, || format!("{}{}", rng.word().to_ascii_lowercase(), rng.range(1, 400)));
        names.push(name);
    }
    for name in &names {
        let key = add(services, name.clone());
        let driver = name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) && rng.chance(70);
        set(key, ValueSpec::dword("Type", if driver { 1 } else { 0x20 }));
        set(key, ValueSpec::dword("Start", rng.range(0, 5) as u32));
        set(key, ValueSpec::dword("ErrorControl", 1));
        let image = if driver {
            format!("\\SystemRoot\\System32\\drivers\\{name}.sys")
        } else {
            format!("%SystemRoot%\\system32\\svchost.exe -k {} -p", rng.word().to_ascii_lowercase())
        };
        set(key, ValueSpec::expand_sz("ImagePath", &image));
        set(
            key,
            ValueSpec::sz("DisplayName", &format!("@%SystemRoot%\\system32\\{name}.dll,-{}", rng.range(100, 900))),
        );
        if rng.chance(70) {
            set(
                key,
                ValueSpec::sz("Description", &format!("@%SystemRoot%\\system32\\{name}.dll,-{}", rng.range(100, 900))),
            );
        }
        if !driver {
            set(
                key,
                ValueSpec::sz(
                    "ObjectName",
                    rng.pick(&["LocalSystem", "NT AUTHORITY\\LocalService", "NT AUTHORITY\\NetworkService"]),
                ),
            );
            set(key, ValueSpec::dword("ServiceSidType", 1));
            let privileges = [
                "SeChangeNotifyPrivilege",
                "SeCreateGlobalPrivilege",
                "SeImpersonatePrivilege",
                "SeAuditPrivilege",
                "SeTcbPrivilege",
            ];
            set(key, ValueSpec::multi_sz("RequiredPrivileges", &privileges[..rng.range(1, 6)]));
            let len = rng.range(20, 44);
            set(key, ValueSpec::binary("FailureActions", &rng.bytes(len)));
        }
        if rng.chance(40) {
            set(key, ValueSpec::sz("Group", &rng.camel(2)));
        }
        if rng.chance(30) {
            set(key, ValueSpec::multi_sz("DependOnService", &["RpcSs", "nsi"]));
        }
        if rng.chance(30) {
            set(key, ValueSpec::multi_sz("Owners", &[format!("{name}.inf").as_str()]));
        }
        if rng.chance(45) {
            let parameters = add(key, "Parameters");
            if !driver {
                set(parameters, ValueSpec::expand_sz("ServiceDll", &system_dll(rng)));
                set(parameters, ValueSpec::dword("ServiceDllUnloadOnStop", 1));
            }
            let count = rng.range(0, 5);
            typical_values(rng, parameters, count);
        }
        if rng.chance(25) {
            let len = rng.range(140, 200);
            set(add(key, "Security"), ValueSpec::binary("Security", &rng.bytes(len)));
        }
        if rng.chance(15) {
            let enumeration = add(key, "Enum");
            set(enumeration, ValueSpec::sz("0", &format!("ROOT\\LEGACY_{}\\0000", name.to_ascii_uppercase())));
            set(enumeration, ValueSpec::dword("Count", 1));
            set(enumeration, ValueSpec::dword("NextInstance", 1));
        }
        if rng.chance(10) {
            let triggers = add(key, "TriggerInfo");
            for index in 0..rng.range(1, 3) {
                let trigger = add(triggers, index.to_string());
                set(trigger, ValueSpec::dword("Type", 1));
                set(trigger, ValueSpec::dword("Action", 1));
                set(trigger, ValueSpec::binary("GUID", &rng.bytes(16)));
                let len = rng.range(20, 120);
                set(trigger, ValueSpec::binary("Data0", &rng.bytes(len)));
            }
        }
    }

    // The services the SYSTEM rules read, with what a healthy workstation has.
    let tcpip = path(services, "Tcpip\\Parameters");
    for (name, text) in [
        ("Hostname", COMPUTER_NAME),
        ("NV Hostname", COMPUTER_NAME),
        ("Domain", ""),
        ("NV Domain", ""),
        ("ICSDomain", "mshome.net"),
        ("SearchList", ""),
        ("NameServer", ""),
        ("DhcpNameServer", "192.168.1.1"),
        ("DhcpDomain", "fritz.box"),
    ] {
        set(tcpip, ValueSpec::sz(name, text));
    }
    set(tcpip, ValueSpec::expand_sz("DataBasePath", "%SystemRoot%\\System32\\drivers\\etc"));
    typical_values(rng, tcpip, 10);
    for subtree in ["Adapters", "DNSRegisteredAdapters", "PersistentRoutes", "Winsock"] {
        filler(rng, child(tcpip, subtree), 4, 1);
    }
    let interfaces = child(tcpip, "Interfaces");
    for _ in 0..6 {
        let interface = add(interfaces, rng.guid());
        set(interface, ValueSpec::sz("DhcpIPAddress", "192.168.1.23"));
        set(interface, ValueSpec::multi_sz("DhcpDefaultGateway", &["192.168.1.1"]));
        set(interface, ValueSpec::binary("DhcpInterfaceOptions", &rng.bytes(300)));
        typical_values(rng, interface, 20);
        for _ in 0..rng.range(0, 3) {
            let profile = add(interface, rng.hex(32));
            typical_values(rng, profile, 10);
        }
    }
    let linkage = path(services, "Tcpip\\Linkage");
    let binds: Vec<String> = (0..20).map(|_| format!("\\Device\\{}", rng.guid())).collect();
    let binds: Vec<&str> = binds.iter().map(String::as_str).collect();
    set(linkage, ValueSpec::multi_sz("Bind", &binds));

    let netlogon = path(services, "Netlogon\\Parameters");
    for (name, number) in [
        ("DisablePasswordChange", 0),
        ("MaximumPasswordAge", 30),
        ("RefusePasswordChange", 0),
        ("RequireSignOrSeal", 1),
        ("RequireStrongKey", 1),
        ("SealSecureChannel", 1),
        ("SignSecureChannel", 1),
    ] {
        set(netlogon, ValueSpec::dword(name, number));
    }
    set(netlogon, ValueSpec::sz("Update", "no"));
    let trusted_installer = child(services, "TrustedInstaller");
    if let Some(start) = trusted_installer.values.iter_mut().find(|value| value.name == "Start") {
        *start = ValueSpec::dword("Start", 3);
    }
}

fn device_enum(rng: &mut Rng, enumeration: &mut KeySpec) {
    // (bus, device ids, instances per device)
    let buses: &[(&str, usize, usize)] = &[
        ("ACPI", 35, 2),
        ("PCI", 45, 1),
        ("USB", 25, 3),
        ("HID", 18, 3),
        ("SWD", 60, 2),
        ("ROOT", 60, 1),
        ("STORAGE", 4, 4),
        ("SCSI", 6, 1),
        ("DISPLAY", 3, 1),
        ("HDAUDIO", 4, 1),
        ("UMB", 6, 1),
        ("BTHENUM", 20, 2),
    ];
    for &(bus, devices, max_instances) in buses {
        let bus_key = child(enumeration, bus);
        let mut used = HashSet::new();
        for _ in 0..devices {
            let id = unique(&mut used, || match bus {
                "PCI" => format!("VEN_{}&DEV_{}&SUBSYS_{}&REV_{}", rng.hex(4), rng.hex(4), rng.hex(8), rng.hex(2)),
                "USB" | "HID" => format!("VID_{}&PID_{}", rng.hex(4), rng.hex(4)),
                "ACPI" => format!("{}{}", rng.pick(&["PNP", "INT", "ACPI", "MSFT"]), rng.hex(4)),
                _ => format!("{}{}", rng.camel(2), rng.hex(4)),
            });
            let device = add(bus_key, id.clone());
            for instance in 0..rng.range(1, max_instances + 1) {
                let key = add(device, format!("{}&{}&0&{instance}", rng.range(1, 8), rng.hex(8).to_ascii_lowercase()));
                let hardware_ids: Vec<String> = (0..rng.range(2, 6)).map(|n| format!("{bus}\\{id}&{n}")).collect();
                let hardware_ids: Vec<&str> = hardware_ids.iter().map(String::as_str).collect();
                set(key, ValueSpec::multi_sz("HardwareID", &hardware_ids));
                set(key, ValueSpec::multi_sz("CompatibleIDs", &hardware_ids[..1]));
                set(key, ValueSpec::dword("Capabilities", rng.range(0, 0x200) as u32));
                let (class_guid, container) = (rng.guid(), rng.guid());
                set(key, ValueSpec::sz("ClassGUID", &class_guid));
                set(key, ValueSpec::sz("ContainerID", &container));
                set(key, ValueSpec::dword("ConfigFlags", 0));
                set(
                    key,
                    ValueSpec::sz(
                        "DeviceDesc",
                        &format!("@oem{}.inf,%{}%;{}", rng.range(1, 90), rng.word(), rng.camel(3)),
                    ),
                );
                set(key, ValueSpec::sz("Driver", &format!("{class_guid}\\{:04}", rng.range(0, 20))));
                set(key, ValueSpec::sz("Mfg", rng.pick(VENDORS)));
                set(key, ValueSpec::sz("Service", &rng.word().to_ascii_lowercase()));
                if rng.chance(50) {
                    set(
                        key,
                        ValueSpec::sz(
                            "LocationInformation",
                            &format!("PCI bus {}, device {}, function 0", rng.range(0, 8), rng.range(0, 32)),
                        ),
                    );
                }
                if rng.chance(80) {
                    let count = rng.range(1, 6);
                    typical_values(rng, add(key, "Device Parameters"), count);
                }
                if rng.chance(30) {
                    add(key, "LogConf");
                }
                if rng.chance(50) {
                    // Device properties: {category GUID}\NNNN with the data as the default value.
                    let properties = add(key, "Properties");
                    for _ in 0..rng.range(3, 7) {
                        let category = add(properties, rng.guid());
                        for property in 0..rng.range(1, 4) {
                            let len = rng.range(8, 60);
                            set(add(category, format!("{:04}", property + 2)), ValueSpec::binary("", &rng.bytes(len)));
                        }
                    }
                }
            }
        }
    }
}

fn driver_database(rng: &mut Rng, database: &mut KeySpec) {
    set(database, ValueSpec::dword("Architecture", 9));
    set(database, ValueSpec::binary("OemInfMap", &rng.bytes(64)));
    set(database, ValueSpec::binary("UpdateDate", &rng.bytes(8)));
    let mut used = HashSet::new();
    let infs: Vec<String> = (0..700)
        .map(|_| unique(&mut used, || format!("{}{}.inf", rng.word().to_ascii_lowercase(), rng.range(1, 100))))
        .collect();

    let packages = child(database, "DriverPackages");
    let mut package_names = Vec::new();
    for inf in &infs {
        let package = format!("{inf}_amd64_{}", rng.hex(16).to_ascii_lowercase());
        package_names.push(package.clone());
        let key = add(packages, package.clone());
        set(key, ValueSpec::sz("Catalog", &inf.replace(".inf", ".cat")));
        set(key, ValueSpec::binary("ImportDate", &rng.bytes(8)));
        set(key, ValueSpec::sz("InfName", inf));
        set(key, ValueSpec::sz("OemPath", &format!("C:\\Windows\\System32\\DriverStore\\FileRepository\\{package}")));
        set(key, ValueSpec::sz("Provider", rng.pick(VENDORS)));
        set(key, ValueSpec::sz("SignerName", "Microsoft Windows Hardware Compatibility Publisher"));
        set(key, ValueSpec::dword("SignerScore", 0x0d000005));
        set(key, ValueSpec::dword("StatusFlags", 0x12));
        set(key, ValueSpec::binary("Version", &rng.bytes(32)));
        let configurations = add(key, "Configurations");
        for index in 0..rng.range(1, 7) {
            let configuration = add(configurations, format!("{}_Inst.NT{index}", rng.camel(2)));
            typical_values(rng, configuration, 5);
            if rng.chance(40) {
                typical_values(rng, add(configuration, "Driver"), 4);
                let service = rng.word().to_ascii_lowercase();
                typical_values(rng, path(configuration, &format!("Services\\{service}")), 4);
            }
        }
        let descriptors = add(key, "Descriptors");
        let mut used_ids = HashSet::new();
        for _ in 0..rng.range(2, 12) {
            let bus = rng.pick(&["PCI", "USB", "ACPI", "HID", "HDAUDIO"]);
            let id = unique(&mut used_ids, || format!("VEN_{}&DEV_{}", rng.hex(4), rng.hex(4)));
            let descriptor = add(child(descriptors, bus), id);
            set(descriptor, ValueSpec::sz("Configuration", &format!("{}_Inst.NT", rng.camel(2))));
            set(descriptor, ValueSpec::sz("Description", &format!("%{}.DeviceDesc%", rng.word())));
            set(descriptor, ValueSpec::sz("Manufacturer", "%MfgName%"));
        }
        let strings = add(key, "Strings");
        let count = rng.range(1, 12);
        typical_values(rng, strings, count);
    }
    let inf_files = child(database, "DriverInfFiles");
    for (inf, package) in infs.iter().zip(&package_names) {
        let key = add(inf_files, inf.clone());
        set(key, ValueSpec::multi_sz("", &[package.as_str()]));
        set(key, ValueSpec::sz("Active", package));
    }
    let device_ids = child(database, "DeviceIds");
    let mut used_ids = HashSet::new();
    for _ in 0..4_000 {
        let bus = rng.pick(&["PCI", "USB", "ACPI", "HID", "HDAUDIO", "SWD", "ROOT", "DISPLAY", "STORAGE", "BTH"]);
        let id = unique(&mut used_ids, || format!("{bus}\\VEN_{}&DEV_{}", rng.hex(4), rng.hex(4)));
        let key = add(child(device_ids, bus), id.split_once('\\').map_or(id.clone(), |(_, rest)| rest.to_string()));
        for _ in 0..rng.range(1, 3) {
            let inf = infs[rng.range(0, infs.len())].clone();
            if !key.values.iter().any(|value| names_equal(&value.name, &inf)) {
                set(key, ValueSpec::binary(&inf, &rng.bytes(4)));
            }
        }
    }
    filler(rng, child(database, "Policies"), 20, 3);
}

/// Turns a clean SYSTEM into one with boot-time file operations queued, as an installer that
/// replaces files in use leaves it: system and program files replaced, temp files deleted.
pub fn make_system_pending(spec: &mut HiveSpec) {
    let mut operations: Vec<String> = Vec::new();
    for index in 0..8 {
        operations.push(format!("\\??\\C:\\Windows\\WinSxS\\Temp\\PendingRenames\\{index:08x}.wdf01000.sys"));
        operations.push(format!("!\\??\\C:\\Windows\\System32\\drivers\\wdf{index}.sys"));
    }
    for index in 0..6 {
        operations.push(format!("\\??\\C:\\Program Files\\Contoso\\Agent\\agent{index}.dll.new"));
        operations.push(format!("!\\??\\C:\\Program Files\\Contoso\\Agent\\agent{index}.dll"));
    }
    for index in 0..16 {
        operations.push(format!(
            "\\??\\C:\\Users\\admin\\AppData\\Local\\Temp\\{{{index:08X}-1A2B-3C4D-5E6F-0123456789AB}}\\setup.tmp"
        ));
        operations.push(String::new());
    }
    let operations: Vec<&str> = operations.iter().map(String::as_str).collect();
    spec.set_value(SESSION_MANAGER_KEY, ValueSpec::multi_sz("PendingFileRenameOperations", &operations));
}
