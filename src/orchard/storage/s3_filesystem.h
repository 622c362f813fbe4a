#pragma once

#include <string>
#include <string_view>

#include "orchard/storage/location.h"

namespace orchard {

// The custom S3 endpoint for this process (`orchard run --s3-endpoint`); empty: AWS_ENDPOINT_URL_S3,
// AWS_ENDPOINT_URL, else AWS itself. Process-wide because a Location is resolved from a bare string (also
// inside manifests); call it before resolving s3:// URIs. Throws UsageError for a malformed URL.
void SetS3Endpoint(std::string endpoint_url);

// s3://bucket/key[?region=R] as a Location on an S3 file system (shared by every location with the same
// endpoint and region, so a manifest of many objects uses one connection pool). Keys in the URI
// (s3://KEY:SECRET@bucket) are refused without echoing them: credentials come from the AWS default chain.
// The first call initialises Arrow's S3 support; it is finalised at process exit.
Location ResolveS3Location(std::string_view uri);

}  // namespace orchard
