//! Names users type: every option whose value is one of a few words is an enum declared once with
//! [`named_enum!`], which gives its canonical names (exported to Python as tuples), parsing with an
//! error that lists the valid names, and the name of each value. Aliases parse but are not listed.

/// Declares a `Copy` enum whose variants have user-facing names.
/// See the test module below for an example.
#[macro_export]
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident for $argument:literal as $noun:literal / $plural:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal $(| $alias:literal)* ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// The canonical names, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The canonical name of this value.
            pub fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }

            /// Parses a canonical name or an alias; the error lists the canonical names.
            pub fn parse(text: &str) -> $crate::error::CoreResult<Self> {
                match text {
                    $( $text $(| $alias)* => Ok($name::$variant), )+
                    other => Err($crate::error::CoreError::invalid(
                        $argument,
                        format!(
                            "unknown {} '{other}'; valid {}: {}",
                            $noun,
                            $plural,
                            Self::NAMES
                                .iter()
                                .map(|n| format!("'{n}'"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )),
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::named_enum! {
        /// A test enum.
        enum Colour for "colour" as "colour" / "colours" {
            /// Red.
            Red = "red" | "rouge",
            /// Green.
            Green = "green",
        }
    }

    #[test]
    fn names_parse_and_errors_list_the_canonical_names() {
        assert_eq!(Colour::NAMES, &["red", "green"]);
        assert_eq!(Colour::parse("rouge").unwrap(), Colour::Red);
        assert_eq!(Colour::Green.name(), "green");
        let err = Colour::parse("blue").unwrap_err().to_string();
        assert!(
            err.contains("`colour`") && err.contains("'red', 'green'"),
            "{err}"
        );
        assert!(!err.contains("rouge"));
    }
}
