pub mod bench;
pub mod demo;
pub mod embed;
pub mod generate;
pub mod models;
