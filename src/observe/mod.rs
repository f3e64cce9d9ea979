pub mod status_page;
