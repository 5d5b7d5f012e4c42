//! Call logic, sans-IO. For now the first answer to each new request; the B2BUA call comes next.
pub mod inbound;
