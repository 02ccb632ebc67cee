"""moto's server, with the CloudFormation deletes it lacks.

moto 5.2.5 creates route tables and internet gateways from a template but cannot delete them
through CloudFormation (their models have no delete_from_cloudformation_json), so deleting any
stack with a VPC that has its own route table fails with DependencyViolation, as AWS never
would. This adds those two deletes, the way the EC2 API deletes them (associations and the
gateway's attachment go first), and starts moto's server with the same arguments.
"""

import sys

from moto.ec2.models import ec2_backends
from moto.ec2.models.internet_gateways import InternetGateway
from moto.ec2.models.route_tables import RouteTable
from moto.server import main


def delete_route_table(cls, resource_name, cloudformation_json, account_id, region_name):
    backend = ec2_backends[account_id][region_name]
    table = backend.route_tables.get(resource_name)
    if table is not None:
        table._associations.clear()
        backend.delete_route_table(resource_name)


def delete_internet_gateway(cls, resource_name, cloudformation_json, account_id, region_name):
    backend = ec2_backends[account_id][region_name]
    gateway = backend.internet_gateways.get(resource_name)
    if gateway is not None:
        gateway.vpc = None
        backend.delete_internet_gateway(resource_name)


RouteTable.delete_from_cloudformation_json = classmethod(delete_route_table)
InternetGateway.delete_from_cloudformation_json = classmethod(delete_internet_gateway)

if __name__ == "__main__":
    main(sys.argv[1:])
