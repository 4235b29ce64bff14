use std::path::PathBuf;

fn main() {
    for arg in std::env::args().skip(1) {
        let i = rebootscan::inspect::inspect(&PathBuf::from(arg), Default::default());
        println!("{}", serde_json::to_string_pretty(&i).unwrap());
    }
}
