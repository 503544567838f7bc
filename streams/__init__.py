"""ordersync: instant order-status events from the ERP to e-commerce platforms."""
