//! `policy test` files (see ARCHITECTURE.md, "Policy test files").
