pub mod presign;
