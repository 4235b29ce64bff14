//! Laying out many machines from a few hive templates, the way collections arrive:
//! `<root>/host-NNNN/Windows/System32/config/{SYSTEM,SOFTWARE}`.
//!
//! Warm runs use hard links: 1,000 machines cost no disk, and since every link shares one inode
//! the kernel caches each template once, which is what "warm" means. Cold runs need every
//! machine to be its own file (a page another machine already pulled in would make the next one
//! look cheap), so they use real copies.

use std::io;
use std::path::{Path, PathBuf};

/// What a machine has pending; decides which templates it is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Nothing pending: clean SYSTEM and SOFTWARE.
    Clean,
    /// `PendingFileRenameOperations` queued in SYSTEM.
    Renames,
    /// CBS waits for a reboot in SOFTWARE; the default `--packages auto` then walks the 30k
    /// CBS packages for the per-update view.
    Servicing,
}

impl Class {
    pub const ALL: [Class; 3] = [Class::Clean, Class::Renames, Class::Servicing];

    pub fn short(self) -> &'static str {
        match self {
            Class::Clean => "clean",
            Class::Renames => "pfro",
            Class::Servicing => "cbs",
        }
    }

    /// The verdict rebootscan must give: a wrong one means the benchmark measured the wrong thing.
    pub fn expected_verdict(self) -> &'static str {
        match self {
            Class::Clean => "not_pending",
            Class::Renames | Class::Servicing => "pending",
        }
    }

    /// The fleet mix: 8 in 10 machines clean, 1 with renames queued, 1 waiting on servicing, so
    /// that even the 10-machine fleet holds every kind.
    pub fn in_fleet(index: usize) -> Class {
        match index % 10 {
            3 => Class::Renames,
            7 => Class::Servicing,
            _ => Class::Clean,
        }
    }
}

/// The four template hive files.
#[derive(Debug, Clone)]
pub struct Templates {
    pub system_clean: PathBuf,
    pub system_pending: PathBuf,
    pub software_clean: PathBuf,
    pub software_pending: PathBuf,
}

impl Templates {
    fn for_class(&self, class: Class) -> (&Path, &Path) {
        match class {
            Class::Clean => (&self.system_clean, &self.software_clean),
            Class::Renames => (&self.system_pending, &self.software_clean),
            Class::Servicing => (&self.system_clean, &self.software_pending),
        }
    }
}

/// One laid-out machine.
#[derive(Debug, Clone)]
pub struct Machine {
    /// The machine's folder (what `rebootscan scan` is given for one machine).
    pub folder: PathBuf,
    pub system: PathBuf,
    pub software: PathBuf,
    pub class: Class,
}

impl Machine {
    pub fn files(&self) -> [&Path; 2] {
        [&self.system, &self.software]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    HardLink,
    Copy,
}

/// Lays out `count` machines under `root`, of `class` or (None) in the fleet mix.
pub fn lay_out(
    root: &Path,
    templates: &Templates,
    count: usize,
    class: Option<Class>,
    placement: Placement,
) -> io::Result<Vec<Machine>> {
    let mut machines = Vec::with_capacity(count);
    for index in 0..count {
        let class = class.unwrap_or_else(|| Class::in_fleet(index));
        let folder = root.join(format!("host-{index:04}"));
        let config = folder.join("Windows").join("System32").join("config");
        std::fs::create_dir_all(&config)?;
        let (system_template, software_template) = templates.for_class(class);
        let system = config.join("SYSTEM");
        let software = config.join("SOFTWARE");
        for (template, target) in [(system_template, &system), (software_template, &software)] {
            match placement {
                Placement::HardLink => std::fs::hard_link(template, target)?,
                Placement::Copy => {
                    std::fs::copy(template, target)?;
                }
            }
        }
        machines.push(Machine { folder, system, software, class });
    }
    Ok(machines)
}
