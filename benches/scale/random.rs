//! A tiny deterministic random source (SplitMix64), so that every run of the benchmark builds
//! byte-identical hives and figures from two runs are comparable.

/// Words real key and value names are made of; combined to give plausible, varied names.
const WORDS: &[&str] = &[
    "Account",
    "Action",
    "Adapter",
    "Agent",
    "App",
    "Audio",
    "Auth",
    "Backup",
    "Boot",
    "Broker",
    "Cache",
    "Capture",
    "Cert",
    "Client",
    "Cloud",
    "Config",
    "Connect",
    "Content",
    "Core",
    "Crypto",
    "Data",
    "Debug",
    "Default",
    "Device",
    "Diag",
    "Display",
    "Driver",
    "Edge",
    "Event",
    "Explorer",
    "Feature",
    "File",
    "Filter",
    "Font",
    "Graphics",
    "Handler",
    "Host",
    "Identity",
    "Input",
    "Install",
    "Kernel",
    "License",
    "Local",
    "Location",
    "Log",
    "Mail",
    "Manager",
    "Media",
    "Memory",
    "Monitor",
    "Net",
    "Notify",
    "Office",
    "Package",
    "Photo",
    "Policy",
    "Power",
    "Print",
    "Profile",
    "Provider",
    "Proxy",
    "Remote",
    "Runtime",
    "Search",
    "Security",
    "Sensor",
    "Server",
    "Service",
    "Session",
    "Settings",
    "Setup",
    "Shell",
    "Speech",
    "Storage",
    "Store",
    "Sync",
    "System",
    "Task",
    "Telemetry",
    "Theme",
    "Time",
    "Update",
    "User",
    "Video",
    "View",
    "Web",
    "Wireless",
    "Worker",
];

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..high` (`high` excluded; `low` when the range is empty).
    pub fn range(&mut self, low: usize, high: usize) -> usize {
        if high <= low {
            return low;
        }
        low + (self.next_u64() % (high - low) as u64) as usize
    }

    /// True `percent` times out of a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// One of `items` (names, vendors, …), chosen uniformly.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.range(0, items.len())]
    }

    pub fn word(&mut self) -> &'static str {
        self.pick(WORDS)
    }

    /// `parts` words run together, e.g. `DeviceSyncPolicy`.
    pub fn camel(&mut self, parts: usize) -> String {
        (0..parts).map(|_| self.word()).collect()
    }

    /// Upper-case hex digits.
    pub fn hex(&mut self, digits: usize) -> String {
        (0..digits)
            .map(|_| char::from_digit(self.range(0, 16) as u32, 16).unwrap_or('0').to_ascii_uppercase())
            .collect()
    }

    /// A registry-style GUID, `{8-4-4-4-12}` in upper case. 122 random bits: collisions among a
    /// few hundred thousand names are not a practical concern.
    pub fn guid(&mut self) -> String {
        format!("{{{}-{}-{}-{}-{}}}", self.hex(8), self.hex(4), self.hex(4), self.hex(4), self.hex(12))
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}
