from app.errors import Conflict, NotFound, Unprocessable


class AdoptionPlanNotFound(NotFound):
    code = "adoption_plan_not_found"
    title = "Adoption plan not found"


class AdoptionNotFound(NotFound):
    """No such adoption of this customer (or not paid yet)."""

    code = "adoption_not_found"
    title = "Adoption not found"


class PlotNotFound(NotFound):
    code = "plot_not_found"
    title = "Plot not found"


class PlotWithoutProduct(Conflict):
    """A plan needs to know what the plot grows: a batch of the plot, whose product has an active SKU with a
    weight (the bag the adopters' rice ships in)."""

    code = "plot_without_product"
    title = "Plot without a product to ship"


class AdoptionSoldOut(Conflict):
    code = "adoption_sold_out"
    title = "Adoption sold out"


class AdoptionSeasonOver(Conflict):
    """The plan's season has ended: no more adoptions, no more deliveries on request."""

    code = "adoption_season_over"
    title = "Adoption season over"


class AdoptionKgExceeded(Conflict):
    code = "adoption_kg_exceeded"
    title = "More than the kilograms left"


class AdoptionKgNotWholeBags(Unprocessable):
    """The kilograms asked for do not fill whole bags of the plan's SKU."""

    code = "adoption_kg_not_whole_bags"
    title = "Not whole bags"
