pub mod bench;
pub mod demo;
pub mod embed;
pub mod eval;
pub mod generate;
pub mod models;
pub mod serve;
