//! The whole suite against each reference shape: the driver serves every kind of mechanism.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_last {
    handfast_conformance::suite!(handfast_conformance::shapes::ShapeFixture(
        handfast_conformance::shapes::Shape::ServerLast
    ));
}

mod multi_leg {
    handfast_conformance::suite!(handfast_conformance::shapes::ShapeFixture(
        handfast_conformance::shapes::Shape::MultiLeg
    ));
}

mod exporter {
    handfast_conformance::suite!(handfast_conformance::shapes::ShapeFixture(
        handfast_conformance::shapes::Shape::Exporter
    ));
}
