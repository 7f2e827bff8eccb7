//! kube-sim's behavior at the HTTP level: authentication, discovery, SSA semantics, errors,
//! status simulation, faults and the request log. The request set-ups live in `helpers`.

mod access;
mod discovery;
mod errors_lists;
mod faults;
mod helpers;
mod status;
mod writes;
