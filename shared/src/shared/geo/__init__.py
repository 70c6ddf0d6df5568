"""Point location shared by grid_service and case_service: the index of the area tree
(:mod:`shared.geo.areaindex`), its versioned snapshot on the wire (:mod:`shared.geo.snapshot`)
and the Chinese map coordinate systems (:mod:`shared.geo.coords`)."""
