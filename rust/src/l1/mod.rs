//! Layer-wise L1 training by vertex descent (Hinz and van de Geer's Deep ReLU Programming) and its
//! one-layer special case, least-absolute-deviation regression by the Barrodale–Roberts simplex.

pub mod dense;
pub mod lad;
pub mod vertex_descent;
