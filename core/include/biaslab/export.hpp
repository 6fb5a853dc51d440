#pragma once
// Symbol visibility for the biaslab shared libraries. Plugins build with -fvisibility=hidden; the
// libraries they link export their API with BIASLAB_API so RTTI and exceptions cross the boundary.
#define BIASLAB_API __attribute__((visibility("default")))
