// The one translation unit that compiles Asio and Beast (separate compilation); every other unit
// sees them through BOOST_*_SEPARATE_COMPILATION. TLS is not Asio's: see upstream/tls.hpp.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
