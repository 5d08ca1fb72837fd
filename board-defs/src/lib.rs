//! envmon's board definitions: the TOML format, its validation and the built-in boards.
//!
//! Empty until the board work (issue 3) fills it; see ARCHITECTURE.md. Board definitions are
//! checked data: no I/O beyond reading the file it is given.
