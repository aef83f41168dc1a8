//! Every `err_*` fixture fails to load with the diagnostics in its snapshot.
